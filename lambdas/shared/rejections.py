"""Malformed input is recorded, never silently dropped and never retried forever."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from shared.clock import utc_now
from shared.observability import logger
from shared.provenance.repository import ProvenanceRepository
from shared.status import iso_time

MAX_EXCERPT_BYTES = 100_000  # the stored excerpt of a rejected body, far under DynamoDB's 400 KB item
MAX_KEY_ID_CHARS = 200  # a longer (hostile) event id is stored hashed: keys stay under DynamoDB's limits


def record_rejected_event(repository: ProvenanceRepository, raw: Any, reason: str) -> None:
    body = json.dumps(raw, sort_keys=True, default=str)
    event_id = raw.get("id") if isinstance(raw, dict) else None
    if not isinstance(event_id, str) or not event_id or len(event_id) > MAX_KEY_ID_CHARS:
        event_id = None
    key = event_id or hashlib.sha256(body.encode()).hexdigest()[:32]
    now = iso_time(utc_now())
    # The reason can quote the event (sample ids, S3 keys): it is in the REJECTED record, not in the log.
    source, detail_type = (raw.get("source"), raw.get("detail-type")) if isinstance(raw, dict) else (None, None)
    logger.error("rejected malformed event", extra={"event_id": key, "source": source, "detail_type": detail_type,
                                                    "reason_chars": len(reason)})
    repository.put_record({"pk": f"REJECTED#{now[:10]}", "sk": f"EVENT#{key}", "entity": "REJECTED_EVENT",
                           "reason": reason[:4000], "body": body.encode()[:MAX_EXCERPT_BYTES].decode(errors="ignore"),
                           "recorded_at": now})
