"""Import order that keeps cold starts short.

Powertools' batch module imports every parser model (~80 ms) when pydantic is already loaded, and
none otherwise; it needs none of them for SQS records. Each capability package imports this module
first (from its __init__), so the batch utility is always loaded before pydantic.
"""

import aws_lambda_powertools.utilities.batch  # noqa: F401
