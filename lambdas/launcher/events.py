"""The one S3 event the launcher reads: EventBridge `Object Created` (the fields it uses, as S3 sends them).

Powertools has a model for it, but importing Powertools' parser models loads every one of them (~76 ms of
a cold start); this is the part of the documented event the launcher needs.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class S3Bucket(BaseModel):
    model_config = ConfigDict(defer_build=True)

    name: str


class S3Object(BaseModel):
    model_config = ConfigDict(defer_build=True, populate_by_name=True)

    key: str
    size: int | None = None
    etag: str | None = None
    version_id: str | None = Field(default=None, alias="version-id")


class ObjectCreatedDetail(BaseModel):
    model_config = ConfigDict(defer_build=True)

    bucket: S3Bucket
    object: S3Object


class ObjectCreated(BaseModel):
    model_config = ConfigDict(defer_build=True, populate_by_name=True)

    source: str
    detail_type: str = Field(alias="detail-type")
    detail: ObjectCreatedDetail
