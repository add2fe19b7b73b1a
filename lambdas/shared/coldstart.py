"""Import order that keeps cold starts short.

Powertools' batch module imports every parser model (~80 ms) when pydantic is already loaded, and
none otherwise; it needs none of them for SQS records. Each handler that consumes SQS through the batch
utility imports this module first (its handler.py's first import), so the batch utility is loaded before
pydantic; handlers that never use it (reconciler, pricing) do not pay for it.
"""

import aws_lambda_powertools.utilities.batch  # noqa: F401
