"""The contract between the stack and the Lambda code, imported from the code itself.

The table key design (`shared.provenance.keys`) and the environment variable names
(`shared.settings`) live in `lambdas/`; the stack imports them so there is one source of truth.
"""

from __future__ import annotations

import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
LAMBDAS_DIR = PROJECT_ROOT / "lambdas"
LAMBDA_REQUIREMENTS = LAMBDAS_DIR / "requirements.txt"

if str(LAMBDAS_DIR) not in sys.path:
    sys.path.insert(0, str(LAMBDAS_DIR))

from shared import omics_quotas  # noqa: E402
from shared import settings as _settings  # noqa: E402
from shared.lineage import ENV_STACK_ID, ENV_TAG_SAMPLE  # noqa: E402
from shared.provenance import keys as table_keys  # noqa: E402

ENV_TABLE = _settings.ENV_TABLE
ENV_OMICS_RATE_LIMITS = _settings.ENV_OMICS_RATE_LIMITS
ENV_RUN_CACHE_ID = _settings.ENV_RUN_CACHE_ID
ENV_OMICS_ROLE_ARN = _settings.ENV_OMICS_ROLE_ARN
ENV_ALARM_TOPIC_ARN = _settings.ENV_ALARM_TOPIC_ARN
ENV_CONTINUATION_QUEUE_URL = _settings.ENV_CONTINUATION_QUEUE_URL

# Powertools reads these (service name per function, one metrics namespace for the product).
METRICS_NAMESPACE = "OmicsAutopilot"

__all__ = [
    "ENV_ALARM_TOPIC_ARN",
    "ENV_CONTINUATION_QUEUE_URL",
    "ENV_OMICS_RATE_LIMITS",
    "ENV_OMICS_ROLE_ARN",
    "ENV_RUN_CACHE_ID",
    "ENV_STACK_ID",
    "ENV_TABLE",
    "ENV_TAG_SAMPLE",
    "LAMBDAS_DIR",
    "LAMBDA_REQUIREMENTS",
    "METRICS_NAMESPACE",
    "PROJECT_ROOT",
    "omics_quotas",
    "table_keys",
]
