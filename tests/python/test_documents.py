"""Single-document APIs with ES 8 semantics: versions, sequence numbers, results, conflicts, routing."""

from __future__ import annotations

import re

import pytest
from elasticsearch import BadRequestError, ConflictError, Elasticsearch, NotFoundError
from support import error_type, hit_ids, total_hits


@pytest.fixture()
def index(es: Elasticsearch, index_name: str) -> str:
    es.indices.create(index=index_name, settings={"number_of_replicas": 0})
    return index_name


def test_index_with_id_creates_then_updates(es: Elasticsearch, index: str) -> None:
    first = es.index(index=index, id="1", document={"v": 1})
    assert first.meta.status == 201
    assert first["result"] == "created"
    assert (first["_index"], first["_id"]) == (index, "1")
    assert first["_version"] == 1
    assert first["_seq_no"] == 0
    assert first["_primary_term"] == 1
    assert first["_shards"]["failed"] == 0 and first["_shards"]["successful"] >= 1

    second = es.index(index=index, id="1", document={"v": 2})
    assert second.meta.status == 200
    assert second["result"] == "updated"
    assert second["_version"] == 2
    assert second["_seq_no"] == 1
    assert second["_primary_term"] == 1


def test_index_without_id_generates_one(es: Elasticsearch, index: str) -> None:
    response = es.index(index=index, document={"v": 1})
    assert response.meta.status == 201
    assert response["result"] == "created"
    assert response["_version"] == 1
    assert re.fullmatch(r"[A-Za-z0-9_-]+", response["_id"]), response["_id"]
    other = es.index(index=index, document={"v": 1})
    assert other["_id"] != response["_id"]
    assert es.get(index=index, id=response["_id"])["_source"] == {"v": 1}


def test_create_conflicts_when_the_id_exists(es: Elasticsearch, index: str) -> None:
    created = es.create(index=index, id="1", document={"v": 1})
    assert created.meta.status == 201 and created["result"] == "created"
    with pytest.raises(ConflictError) as raised:
        es.create(index=index, id="1", document={"v": 2})
    assert raised.value.meta.status == 409
    assert error_type(raised.value) == "version_conflict_engine_exception"
    assert "document already exists" in raised.value.body["error"]["reason"]
    with pytest.raises(ConflictError):
        es.index(index=index, id="1", document={"v": 3}, op_type="create")
    assert es.get(index=index, id="1")["_source"] == {"v": 1}


def test_get_exists_get_source_delete(es: Elasticsearch, index: str) -> None:
    es.index(index=index, id="1", document={"a": 1, "b": {"c": 2}})
    got = es.get(index=index, id="1")  # realtime: no refresh needed
    assert got["found"] is True
    assert got["_source"] == {"a": 1, "b": {"c": 2}}
    assert (got["_version"], got["_seq_no"], got["_primary_term"]) == (1, 0, 1)
    assert es.get(index=index, id="1", source_includes="b")["_source"] == {"b": {"c": 2}}
    assert "_source" not in es.get(index=index, id="1", source=False)
    assert es.exists(index=index, id="1")
    assert not es.exists(index=index, id="2")
    assert es.get_source(index=index, id="1").body == {"a": 1, "b": {"c": 2}}

    deleted = es.delete(index=index, id="1")
    assert deleted["result"] == "deleted"
    assert deleted["_version"] == 2
    assert not es.exists(index=index, id="1")
    with pytest.raises(NotFoundError) as raised:
        es.get(index=index, id="1")
    assert raised.value.body["found"] is False
    with pytest.raises(NotFoundError) as raised:
        es.delete(index=index, id="1")
    assert raised.value.body["result"] == "not_found"


def test_update_partial_doc_and_noop(es: Elasticsearch, index: str) -> None:
    es.index(index=index, id="1", document={"a": 1, "nested": {"x": 1}})
    updated = es.update(index=index, id="1", doc={"b": 2, "nested": {"y": 2}})
    assert updated["result"] == "updated"
    assert updated["_version"] == 2
    assert es.get_source(index=index, id="1").body == {"a": 1, "b": 2, "nested": {"x": 1, "y": 2}}

    noop = es.update(index=index, id="1", doc={"b": 2})
    assert noop["result"] == "noop"
    assert noop["_version"] == 2
    forced = es.update(index=index, id="1", doc={"b": 2}, detect_noop=False)
    assert forced["result"] == "updated"
    assert forced["_version"] == 3


def test_update_upserts(es: Elasticsearch, index: str) -> None:
    as_upsert = es.update(index=index, id="1", doc={"x": 1}, doc_as_upsert=True)
    assert as_upsert.meta.status == 201
    assert as_upsert["result"] == "created"
    assert es.get_source(index=index, id="1").body == {"x": 1}

    with_upsert = es.update(index=index, id="2", doc={"counter": 5}, upsert={"counter": 1})
    assert with_upsert["result"] == "created"
    assert es.get_source(index=index, id="2").body == {"counter": 1}
    again = es.update(index=index, id="2", doc={"counter": 5}, upsert={"counter": 1})
    assert again["result"] == "updated"
    assert es.get_source(index=index, id="2").body == {"counter": 5}


def test_update_missing_document(es: Elasticsearch, index: str) -> None:
    with pytest.raises(NotFoundError) as raised:
        es.update(index=index, id="missing", doc={"x": 1})
    assert error_type(raised.value) == "document_missing_exception"


@pytest.mark.pending("painless scripts")
def test_update_with_script(es: Elasticsearch, index: str) -> None:
    es.index(index=index, id="1", document={"n": 1})
    response = es.update(index=index, id="1", script={"source": "ctx._source.n += params.by", "params": {"by": 2}})
    assert response["result"] == "updated"
    assert es.get_source(index=index, id="1").body == {"n": 3}


def test_mget(es: Elasticsearch, index: str, make_index_name) -> None:
    other = make_index_name("other")
    es.index(index=index, id="1", document={"a": 1})
    es.index(index=other, id="9", document={"b": 2})
    by_ids = es.mget(index=index, ids=["1", "2"])
    assert [doc["found"] for doc in by_ids["docs"]] == [True, False]
    assert by_ids["docs"][0]["_source"] == {"a": 1}
    assert by_ids["docs"][1]["_id"] == "2"
    across = es.mget(docs=[{"_index": index, "_id": "1"}, {"_index": other, "_id": "9", "_source": False}])
    assert [doc["_index"] for doc in across["docs"]] == [index, other]
    assert "_source" not in across["docs"][1]


def test_mget_with_missing_index_reports_per_doc_error(es: Elasticsearch, index: str) -> None:
    response = es.mget(docs=[{"_index": index, "_id": "1"}, {"_index": index + "-nope", "_id": "1"}])
    assert response["docs"][0]["found"] is False
    assert response["docs"][1]["error"]["type"] == "index_not_found_exception"


def test_optimistic_concurrency_control(es: Elasticsearch, index: str) -> None:
    first = es.index(index=index, id="1", document={"v": 1})
    seq_no, term = first["_seq_no"], first["_primary_term"]
    ok = es.index(index=index, id="1", document={"v": 2}, if_seq_no=seq_no, if_primary_term=term)
    assert ok["result"] == "updated"
    with pytest.raises(ConflictError) as raised:
        es.index(index=index, id="1", document={"v": 3}, if_seq_no=seq_no, if_primary_term=term)
    assert error_type(raised.value) == "version_conflict_engine_exception"
    with pytest.raises(ConflictError):
        es.delete(index=index, id="1", if_seq_no=seq_no, if_primary_term=term)
    with pytest.raises(ConflictError):
        es.update(index=index, id="1", doc={"v": 4}, if_seq_no=seq_no, if_primary_term=term)
    current = es.get(index=index, id="1")
    assert current["_source"] == {"v": 2}
    assert (
        es.delete(index=index, id="1", if_seq_no=current["_seq_no"], if_primary_term=current["_primary_term"])["result"]
        == "deleted"
    )


def test_external_versioning(es: Elasticsearch, index: str) -> None:
    first = es.index(index=index, id="1", document={"v": 1}, version=10, version_type="external")
    assert first["_version"] == 10
    with pytest.raises(ConflictError) as raised:
        es.index(index=index, id="1", document={"v": 2}, version=5, version_type="external")
    assert error_type(raised.value) == "version_conflict_engine_exception"
    with pytest.raises(ConflictError):
        es.index(index=index, id="1", document={"v": 2}, version=10, version_type="external")
    newer = es.index(index=index, id="1", document={"v": 3}, version=11, version_type="external")
    assert newer["_version"] == 11
    assert es.get(index=index, id="1")["_source"] == {"v": 3}


def test_refresh_wait_for_makes_the_write_searchable(es: Elasticsearch, index: str) -> None:
    es.indices.put_settings(index=index, settings={"index": {"refresh_interval": "1s"}})
    response = es.index(index=index, id="1", document={"v": 1}, refresh="wait_for")
    assert response["result"] == "created"
    assert response.get("forced_refresh") is not True
    assert hit_ids(es.search(index=index)) == ["1"]
    forced = es.index(index=index, id="2", document={"v": 2}, refresh=True)
    assert forced["forced_refresh"] is True
    assert total_hits(es.search(index=index)) == 2


def test_routing(es: Elasticsearch, index_name: str) -> None:
    es.indices.create(index=index_name, settings={"number_of_shards": 3, "number_of_replicas": 0})
    es.index(index=index_name, id="1", document={"v": 1}, routing="user-7", refresh=True)
    got = es.get(index=index_name, id="1", routing="user-7")
    assert got["_routing"] == "user-7"
    assert got["_source"] == {"v": 1}
    hits = es.search(index=index_name, routing="user-7")["hits"]["hits"]
    assert [(hit["_id"], hit["_routing"]) for hit in hits] == [("1", "user-7")]
    assert es.delete(index=index_name, id="1", routing="user-7")["result"] == "deleted"


def test_required_routing(es: Elasticsearch, index_name: str) -> None:
    es.indices.create(index=index_name, mappings={"_routing": {"required": True}})
    with pytest.raises(BadRequestError) as raised:
        es.index(index=index_name, id="1", document={"v": 1})
    assert error_type(raised.value) == "routing_missing_exception"
    es.index(index=index_name, id="1", document={"v": 1}, routing="r")
    with pytest.raises(BadRequestError) as raised:
        es.get(index=index_name, id="1")
    assert error_type(raised.value) == "routing_missing_exception"
    assert es.get(index=index_name, id="1", routing="r")["found"] is True


def test_type_mismatch_is_a_document_parsing_error(es: Elasticsearch, index_name: str) -> None:
    es.indices.create(index=index_name, mappings={"properties": {"n": {"type": "long"}}})
    with pytest.raises(BadRequestError) as raised:
        es.index(index=index_name, id="1", document={"n": "not a number"})
    # 8.0-8.7 report mapper_parsing_exception, later 8.x document_parsing_exception
    assert error_type(raised.value) in {"document_parsing_exception", "mapper_parsing_exception"}
