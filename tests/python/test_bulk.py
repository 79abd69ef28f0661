"""Bulk indexing through the client's helpers, per-item bulk errors, and scrolling with helpers.scan."""

from __future__ import annotations

from collections import Counter

import pytest
from elasticsearch import Elasticsearch, helpers
from support import index_docs


def test_helpers_bulk_2000_documents(es: Elasticsearch, index_name: str) -> None:
    actions = ({"_index": index_name, "_id": str(n), "_source": {"n": n, "even": n % 2 == 0}} for n in range(2000))
    indexed, errors = helpers.bulk(es, actions, chunk_size=500)
    assert (indexed, errors) == (2000, [])
    es.indices.refresh(index=index_name)
    assert es.count(index=index_name)["count"] == 2000
    assert es.count(index=index_name, query={"term": {"even": True}})["count"] == 1000
    assert es.get(index=index_name, id="1999")["_source"] == {"n": 1999, "even": False}


def test_bulk_reports_per_item_errors(es: Elasticsearch, index_name: str) -> None:
    es.indices.create(index=index_name, mappings={"properties": {"n": {"type": "long"}}})
    response = es.bulk(
        refresh=True,
        operations=[
            {"create": {"_index": index_name, "_id": "1"}},
            {"n": 1},
            {"create": {"_index": index_name, "_id": "1"}},
            {"n": 2},
            {"index": {"_index": index_name, "_id": "2"}},
            {"n": "not a number"},
            {"update": {"_index": index_name, "_id": "missing"}},
            {"doc": {"n": 3}},
            {"delete": {"_index": index_name, "_id": "missing"}},
            {"index": {"_index": index_name, "_id": "3"}},
            {"n": 3},
        ],
    )
    assert response["errors"] is True
    items = response["items"]
    assert [next(iter(item)) for item in items] == ["create", "create", "index", "update", "delete", "index"]
    created, duplicate, bad_value, missing_update, missing_delete, indexed = (next(iter(i.values())) for i in items)
    assert (created["status"], created["result"], created["_seq_no"]) == (201, "created", 0)
    assert duplicate["status"] == 409
    assert duplicate["error"]["type"] == "version_conflict_engine_exception"
    assert bad_value["status"] == 400
    assert bad_value["error"]["type"] in {"document_parsing_exception", "mapper_parsing_exception"}
    assert missing_update["status"] == 404
    assert missing_update["error"]["type"] == "document_missing_exception"
    assert (missing_delete["status"], missing_delete["result"]) == (404, "not_found")
    assert "error" not in missing_delete
    assert (indexed["status"], indexed["result"]) == (201, "created")
    assert es.count(index=index_name)["count"] == 2


def test_bulk_with_default_index_and_mixed_actions(es: Elasticsearch, index_name: str) -> None:
    response = es.bulk(
        index=index_name,
        refresh=True,
        operations=[
            {"index": {"_id": "1"}},
            {"v": 1},
            {"index": {"_id": "2"}},
            {"v": 2},
            {"update": {"_id": "1"}},
            {"doc": {"w": 1}},
            {"delete": {"_id": "2"}},
        ],
    )
    assert response["errors"] is False
    assert [next(iter(item.values()))["result"] for item in response["items"]] == [
        "created",
        "created",
        "updated",
        "deleted",
    ]
    assert es.get_source(index=index_name, id="1").body == {"v": 1, "w": 1}
    assert es.count(index=index_name)["count"] == 1


def test_helpers_bulk_raises_on_item_errors(es: Elasticsearch, index_name: str) -> None:
    es.index(index=index_name, id="1", document={"v": 1})
    with pytest.raises(helpers.BulkIndexError) as raised:
        helpers.bulk(es, [{"_op_type": "create", "_index": index_name, "_id": "1", "_source": {"v": 2}}])
    (error,) = raised.value.errors
    assert error["create"]["status"] == 409


def test_helpers_scan_returns_every_document_once(es: Elasticsearch, index_name: str) -> None:
    es.indices.create(index=index_name, settings={"number_of_shards": 2, "number_of_replicas": 0})
    index_docs(es, index_name, ({"n": n} for n in range(10_000)))
    seen = Counter(
        hit["_id"] for hit in helpers.scan(es, index=index_name, size=1000, query={"query": {"match_all": {}}})
    )
    assert len(seen) == 10_000
    assert max(seen.values()) == 1, "a document came back more than once"
    assert set(seen) == {str(n) for n in range(1, 10_001)}
