"""Index lifecycle: create/get/exists/delete, mappings, settings, refresh/flush, open/close, stats,
and the index auto-created by a first write."""

from __future__ import annotations

import pytest
from elasticsearch import BadRequestError, Elasticsearch, NotFoundError
from support import error_type, index_docs


def test_create_get_exists_delete(es: Elasticsearch, index_name: str) -> None:
    assert not es.indices.exists(index=index_name)
    created = es.indices.create(
        index=index_name,
        settings={"number_of_shards": 2, "number_of_replicas": 0},
        mappings={"properties": {"title": {"type": "text"}, "views": {"type": "long"}}},
    )
    assert created.body == {"acknowledged": True, "shards_acknowledged": True, "index": index_name}
    assert es.indices.exists(index=index_name)

    got = es.indices.get(index=index_name)[index_name]
    assert got["mappings"]["properties"] == {"title": {"type": "text"}, "views": {"type": "long"}}
    assert got["settings"]["index"]["number_of_shards"] == "2"
    assert got["settings"]["index"]["number_of_replicas"] == "0"
    assert got["settings"]["index"]["provided_name"] == index_name
    assert got["aliases"] == {}

    assert es.indices.delete(index=index_name).body == {"acknowledged": True}
    assert not es.indices.exists(index=index_name)


def test_create_twice_is_rejected(es: Elasticsearch, index_name: str) -> None:
    es.indices.create(index=index_name)
    with pytest.raises(BadRequestError) as raised:
        es.indices.create(index=index_name)
    assert error_type(raised.value) == "resource_already_exists_exception"
    assert raised.value.body["error"]["index"] == index_name


def test_put_and_get_mapping(es: Elasticsearch, index_name: str) -> None:
    es.indices.create(index=index_name, mappings={"properties": {"a": {"type": "keyword"}}})
    assert es.indices.put_mapping(index=index_name, properties={"b": {"type": "integer"}}).body == {
        "acknowledged": True
    }
    mapping = es.indices.get_mapping(index=index_name)
    assert mapping[index_name]["mappings"]["properties"] == {"a": {"type": "keyword"}, "b": {"type": "integer"}}


def test_changing_a_field_type_is_rejected(es: Elasticsearch, index_name: str) -> None:
    es.indices.create(index=index_name, mappings={"properties": {"n": {"type": "long"}}})
    with pytest.raises(BadRequestError) as raised:
        es.indices.put_mapping(index=index_name, properties={"n": {"type": "text"}})
    assert error_type(raised.value) == "illegal_argument_exception"
    assert "cannot be changed from type [long] to [text]" in raised.value.body["error"]["reason"]


def test_put_and_get_settings(es: Elasticsearch, index_name: str) -> None:
    es.indices.create(index=index_name, settings={"number_of_replicas": 0})
    response = es.indices.put_settings(index=index_name, settings={"index": {"refresh_interval": "5s"}})
    assert response.body == {"acknowledged": True}
    settings = es.indices.get_settings(index=index_name)[index_name]["settings"]["index"]
    assert settings["refresh_interval"] == "5s"
    assert settings["number_of_shards"] == "1"  # the ES 7+ default
    flat = es.indices.get_settings(index=index_name, name="index.refresh_interval", flat_settings=True)
    assert flat[index_name]["settings"] == {"index.refresh_interval": "5s"}


def test_static_settings_cannot_change_on_an_open_index(es: Elasticsearch, index_name: str) -> None:
    es.indices.create(index=index_name)
    with pytest.raises(BadRequestError) as raised:
        es.indices.put_settings(index=index_name, settings={"index": {"number_of_shards": 3}})
    assert error_type(raised.value) == "illegal_argument_exception"


def test_refresh_makes_documents_searchable(es: Elasticsearch, index_name: str) -> None:
    es.indices.create(index=index_name, settings={"refresh_interval": "-1"})
    es.index(index=index_name, id="1", document={"a": 1})
    assert es.count(index=index_name)["count"] == 0, "refresh_interval -1: nothing searchable yet"
    refreshed = es.indices.refresh(index=index_name)
    assert refreshed["_shards"]["failed"] == 0
    assert es.count(index=index_name)["count"] == 1


def test_flush(es: Elasticsearch, index_name: str) -> None:
    es.indices.create(index=index_name)
    es.index(index=index_name, id="1", document={"a": 1})
    flushed = es.indices.flush(index=index_name)
    assert flushed["_shards"]["failed"] == 0
    assert flushed["_shards"]["successful"] >= 1


def test_close_and_open(es: Elasticsearch, index_name: str) -> None:
    es.indices.create(index=index_name, settings={"number_of_replicas": 0})
    index_docs(es, index_name, [{"a": 1}])
    closed = es.indices.close(index=index_name)
    assert closed["acknowledged"] is True
    assert closed["indices"][index_name]["closed"] is True
    with pytest.raises(BadRequestError) as raised:
        es.search(index=index_name)
    assert error_type(raised.value) == "index_closed_exception"

    opened = es.indices.open(index=index_name)
    assert opened.body == {"acknowledged": True, "shards_acknowledged": True}
    es.cluster.health(index=index_name, wait_for_status="yellow", timeout="30s")
    assert es.count(index=index_name)["count"] == 1, "documents survive close/open"


def test_stats_count_documents(es: Elasticsearch, index_name: str) -> None:
    es.indices.create(index=index_name)
    index_docs(es, index_name, [{"n": number} for number in range(3)])
    stats = es.indices.stats(index=index_name)
    assert stats["_shards"]["failed"] == 0
    assert stats["_all"]["primaries"]["docs"]["count"] == 3
    index_stats = stats["indices"][index_name]
    assert index_stats["primaries"]["docs"]["count"] == 3
    assert index_stats["primaries"]["indexing"]["index_total"] >= 3
    assert "uuid" in index_stats
    docs_only = es.indices.stats(index=index_name, metric="docs")
    assert "indexing" not in docs_only["_all"]["primaries"]


def test_first_write_auto_creates_the_index_with_dynamic_mappings(es: Elasticsearch, index_name: str) -> None:
    response = es.index(
        index=index_name,
        id="1",
        document={"title": "Hello", "count": 3, "ratio": 0.5, "ok": True, "when": "2024-01-02"},
    )
    assert response["result"] == "created"
    assert es.indices.exists(index=index_name)
    properties = es.indices.get_mapping(index=index_name)[index_name]["mappings"]["properties"]
    assert properties["title"] == {"type": "text", "fields": {"keyword": {"type": "keyword", "ignore_above": 256}}}
    assert properties["count"] == {"type": "long"}
    assert properties["ratio"] == {"type": "float"}
    assert properties["ok"] == {"type": "boolean"}
    assert properties["when"] == {"type": "date"}


def test_delete_missing_index(es: Elasticsearch, index_name: str) -> None:
    with pytest.raises(NotFoundError) as raised:
        es.indices.delete(index=index_name)
    assert error_type(raised.value) == "index_not_found_exception"
