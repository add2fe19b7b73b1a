"""The StartRunBatch bounds a sheet (launcher) or a follow-up batch (re-runner) is checked against, read
from botocore's omics service model.

Lengths and patterns are the API's own (never retyped): when botocore's model changes, so do our checks.
The model is loaded once, on the first sheet, not at import (a cold start that only routes an event
does not pay for it).

The model's string patterns are Java regular expressions made of Unicode general categories
(`[\\p{L}||\\p{M}||\\p{Z}||\\p{S}||\\p{N}||\\p{P}]+`): a character is allowed when its category's major
class is one of those letters. Python's `re` has no `\\p{..}`, so the classes are read from the pattern and
checked with `unicodedata`; any other pattern form is refused loudly rather than guessed.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from shared.omics_model import omics_model

# The guide ('Batch runs in HealthOmics'): 100,000 runs per batch. Not in the service model (a quota).
MAX_RUNS = 100_000

# Printable ASCII is letters, digits, punctuation, symbols and the space.
_PRINTABLE_ASCII = frozenset({"L", "N", "P", "S", "Z"})
_CATEGORY_CLASS = re.compile(r"\[((?:\\p\{[A-Z]\}|\|)+)\]\+")


def category_classes(pattern: str) -> frozenset[str]:
    """`[\\p{L}||\\p{N}]+` -> {"L", "N"}; ValueError for a pattern of any other form."""
    match = _CATEGORY_CLASS.fullmatch(pattern)
    if not match:
        raise ValueError(f"unsupported service-model pattern {pattern!r}")
    return frozenset(re.findall(r"\\p\{([A-Z])\}", match.group(1)))


@dataclass(frozen=True)
class TextRule:
    """A string shape of the model: length bounds and the Unicode classes its characters may belong to."""

    shape: str
    min_length: int
    max_length: int
    classes: frozenset[str]

    def allows(self, value: str) -> bool:
        if not self.min_length <= len(value) <= self.max_length:
            return False
        classes = self.classes
        if value.isascii() and value.isprintable() and classes >= _PRINTABLE_ASCII:
            return True  # the common case, without a per-character lookup
        return all(unicodedata.category(char)[0] in classes for char in value)

    def allows_all(self, values: list[str]) -> bool:
        """allows() of every value, in passes over them all at C speed (a sheet's 100,000 ids)."""
        if not values:
            return True
        if not (self.min_length <= min(map(len, values)) and max(map(len, values)) <= self.max_length):
            return False
        if self.classes >= _PRINTABLE_ASCII and all(map(str.isascii, values)) and all(map(str.isprintable, values)):
            return True
        return all(map(self.allows, values))

    def first_forbidden(self, value: str) -> str | None:
        """The first character the pattern forbids, as U+XXXX, or None."""
        for char in value:
            if unicodedata.category(char)[0] not in self.classes:
                return f"U+{ord(char):04X}"
        return None

    def problem(self, field: str, value: Any) -> str | None:
        if not isinstance(value, str):
            return f"{field} must be text, not {type(value).__name__}"
        if not self.min_length <= len(value) <= self.max_length:
            return f"{field} is {len(value)} characters; {self.min_length} to {self.max_length} allowed"
        if not self.allows(value):
            return (f"{field} contains a character the HealthOmics API does not accept ({self.first_forbidden(value)}; "
                    f"{self.shape} allows only Unicode letters, marks, separators, symbols, numbers, punctuation)")
        return None


@dataclass(frozen=True)
class ApiLimits:
    run_setting_id: TextRule
    run_name: TextRule
    batch_name: TextRule
    request_id_max: int
    inline_max: int
    per_run_fields: frozenset[str]  # what one inline run setting may set; the rest is the batch's
    priority_max: int
    storage_max: int
    uri_max: int
    tag_key_max: int
    tag_value_max: int
    workflow_version_max: int


def _text(shape: Any) -> TextRule:
    meta = shape.metadata
    return TextRule(shape.name, int(meta.get("min", 0)), int(meta["max"]), category_classes(meta["pattern"]))


@lru_cache(maxsize=1)
def api_limits() -> ApiLimits:
    model = omics_model()
    request = model.operation_model("StartRunBatch").input_shape
    default = request.members["defaultRunSetting"]
    inline = request.members["batchRunSettings"].members["inlineSettings"]
    entry = inline.member
    tags = entry.members["runTags"]
    return ApiLimits(
        run_setting_id=_text(entry.members["runSettingId"]),
        run_name=_text(entry.members["name"]),
        batch_name=_text(request.members["batchName"]),
        request_id_max=int(request.members["requestId"].metadata["max"]),
        inline_max=int(inline.metadata["max"]),
        per_run_fields=frozenset(entry.members),
        priority_max=int(entry.members["priority"].metadata["max"]),
        storage_max=int(default.members["storageCapacity"].metadata["max"]),
        uri_max=int(entry.members["outputUri"].metadata["max"]),
        tag_key_max=int(tags.key.metadata["max"]),
        tag_value_max=int(tags.value.metadata["max"]),
        workflow_version_max=int(default.members["workflowVersionName"].metadata["max"]),
    )
