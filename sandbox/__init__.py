"""The local sandbox: HealthOmics emulator, template-driven local wiring, demo and local server.

The handlers import as they do in Lambda, with lambdas/ as the root (`recorder.handler`,
`shared.settings`): pytest sets that path from pyproject.toml; anything else that uses the sandbox
gets it here.
"""

import sys
from pathlib import Path

_LAMBDA_ASSET_ROOT = str(Path(__file__).resolve().parent.parent / "lambdas")
if _LAMBDA_ASSET_ROOT not in sys.path:
    sys.path.insert(0, _LAMBDA_ASSET_ROOT)
