"""Small helpers shared by the client tests (kept out of conftest so tests import them explicitly)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from elasticsearch import ApiError, Elasticsearch, helpers


def error_type(error: ApiError) -> str | None:
    """``error.type`` of an ES error body (None when the body has no error object)."""
    body = error.body
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return body["error"].get("type")
    return None


def root_cause_types(error: ApiError) -> list[str]:
    body = error.body
    if not isinstance(body, dict) or not isinstance(body.get("error"), dict):
        return []
    return [cause.get("type") for cause in body["error"].get("root_cause", [])]


def index_docs(es: Elasticsearch, index: str, docs: Iterable[dict[str, Any]], with_ids: bool = True) -> int:
    """Bulk-index ``docs`` (ids "1", "2", ... unless ``with_ids`` is False) and refresh; returns the count."""
    actions = (
        {"_index": index, **({"_id": str(number)} if with_ids else {}), "_source": doc}
        for number, doc in enumerate(docs, start=1)
    )
    indexed, errors = helpers.bulk(es, actions, chunk_size=1000, raise_on_error=True)
    assert errors == []
    es.indices.refresh(index=index)
    return indexed


def hit_ids(response: Any) -> list[str]:
    return [hit["_id"] for hit in response["hits"]["hits"]]


def total_hits(response: Any) -> int:
    return int(response["hits"]["total"]["value"])
