"""The operator CLI of the HealthOmics autopilot: `python -m autopilot_cli ...` or `autopilot ...`.

It reads the provenance table with the same repository and views the Lambdas use (lambdas/ is put on
the import path here, exactly as the Lambda asset root), and drives the stack's functions and event
archive through a target: a deployed stack (CloudFormation outputs, normal AWS credentials), a table
given directly (any endpoint, e.g. a sandbox server), or an in-process sandbox account.
"""

from __future__ import annotations

import sys
from pathlib import Path

LAMBDAS_DIR = Path(__file__).resolve().parent.parent / "lambdas"
if str(LAMBDAS_DIR) not in sys.path:
    sys.path.insert(0, str(LAMBDAS_DIR))
