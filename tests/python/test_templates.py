"""Composable index templates: put/get/exists/delete, and their effect on newly created indices."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from elasticsearch import Elasticsearch, NotFoundError


@pytest.fixture()
def template_name(es: Elasticsearch, unique_name: Callable[[str], str]) -> Iterator[str]:
    name = unique_name("tpl")
    yield name
    es.options(ignore_status=404).indices.delete_index_template(name=name)


def test_put_get_exists_delete_index_template(es: Elasticsearch, template_name: str) -> None:
    pattern = f"{template_name}-*"
    response = es.indices.put_index_template(
        name=template_name,
        index_patterns=[pattern],
        priority=100,
        template={"settings": {"number_of_shards": 2}, "mappings": {"properties": {"f": {"type": "keyword"}}}},
    )
    assert response.body == {"acknowledged": True}
    assert es.indices.exists_index_template(name=template_name)

    (entry,) = es.indices.get_index_template(name=template_name)["index_templates"]
    assert entry["name"] == template_name
    assert entry["index_template"]["index_patterns"] == [pattern]
    assert entry["index_template"]["priority"] == 100
    assert entry["index_template"]["template"]["settings"]["index"]["number_of_shards"] == "2"
    assert entry["index_template"]["template"]["mappings"]["properties"] == {"f": {"type": "keyword"}}

    assert es.indices.delete_index_template(name=template_name).body == {"acknowledged": True}
    assert not es.indices.exists_index_template(name=template_name)
    with pytest.raises(NotFoundError):
        es.indices.get_index_template(name=template_name)


def test_template_applies_to_new_matching_indices(
    es: Elasticsearch, template_name: str, unique_name: Callable[[str], str]
) -> None:
    alias = unique_name("alias")
    es.indices.put_index_template(
        name=template_name,
        index_patterns=[f"{template_name}-*"],
        template={
            "settings": {"number_of_shards": 2, "number_of_replicas": 0},
            "mappings": {"properties": {"status": {"type": "keyword"}}},
            "aliases": {alias: {}},
        },
    )
    index = f"{template_name}-000001"
    try:
        es.index(index=index, id="1", document={"status": "ok", "other": 1}, refresh=True)  # auto-create
        got = es.indices.get(index=index)[index]
        assert got["settings"]["index"]["number_of_shards"] == "2"
        assert got["mappings"]["properties"]["status"] == {"type": "keyword"}
        assert got["mappings"]["properties"]["other"] == {"type": "long"}
        assert got["aliases"] == {alias: {}}
        assert es.count(index=alias)["count"] == 1
    finally:
        es.options(ignore_status=404).indices.delete(index=index)


def test_explicit_create_settings_override_the_template(es: Elasticsearch, template_name: str) -> None:
    es.indices.put_index_template(
        name=template_name, index_patterns=[f"{template_name}-*"], template={"settings": {"number_of_shards": 2}}
    )
    index = f"{template_name}-explicit"
    try:
        es.indices.create(index=index, settings={"number_of_shards": 1})
        assert es.indices.get_settings(index=index)[index]["settings"]["index"]["number_of_shards"] == "1"
    finally:
        es.options(ignore_status=404).indices.delete(index=index)


def test_get_missing_template(es: Elasticsearch, unique_name: Callable[[str], str]) -> None:
    with pytest.raises(NotFoundError):
        es.indices.get_index_template(name=unique_name("missing"))
    assert not es.indices.exists_index_template(name=unique_name("missing"))
