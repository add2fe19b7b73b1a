"""Malformed input is recorded, never silently dropped and never retried forever."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from shared.clock import utc_now
from shared.observability import logger
from shared.provenance.repository import ProvenanceRepository
from shared.status import iso_time


def record_rejected_event(repository: ProvenanceRepository, raw: Any, reason: str) -> None:
    body = json.dumps(raw, sort_keys=True, default=str)
    event_id = raw.get("id") if isinstance(raw, dict) else None
    key = event_id or hashlib.sha256(body.encode()).hexdigest()[:32]
    now = iso_time(utc_now())
    # The reason can quote the event (sample ids, S3 keys): it is in the REJECTED record, not in the log.
    source, detail_type = (raw.get("source"), raw.get("detail-type")) if isinstance(raw, dict) else (None, None)
    logger.error("rejected malformed event", extra={"event_id": key, "source": source, "detail_type": detail_type,
                                                    "reason_chars": len(reason)})
    repository.put_record({"pk": f"REJECTED#{now[:10]}", "sk": f"EVENT#{key}", "entity": "REJECTED_EVENT",
                           "reason": reason[:4000], "body": body[:100_000], "recorded_at": now})
