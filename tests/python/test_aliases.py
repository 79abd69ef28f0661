"""Aliases: put/get/exists/delete, atomic update_aliases, write indices and filtered aliases."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from elasticsearch import BadRequestError, Elasticsearch, NotFoundError
from support import error_type, hit_ids, index_docs


def test_put_get_exists_delete_alias(es: Elasticsearch, index_name: str, unique_name: Callable[[str], str]) -> None:
    alias = unique_name("alias")
    es.indices.create(index=index_name)
    assert es.indices.put_alias(index=index_name, name=alias).body == {"acknowledged": True}
    assert es.indices.exists_alias(name=alias)
    assert es.indices.get_alias(name=alias).body == {index_name: {"aliases": {alias: {}}}}
    assert es.indices.get_alias(index=index_name).body == {index_name: {"aliases": {alias: {}}}}
    assert es.indices.get(index=index_name)[index_name]["aliases"] == {alias: {}}

    assert es.indices.delete_alias(index=index_name, name=alias).body == {"acknowledged": True}
    assert not es.indices.exists_alias(name=alias)
    with pytest.raises(NotFoundError):
        es.indices.get_alias(name=alias)


def test_alias_resolves_for_reads_and_writes(
    es: Elasticsearch, index_name: str, unique_name: Callable[[str], str]
) -> None:
    alias = unique_name("alias")
    es.indices.create(index=index_name, aliases={alias: {}})
    written = es.index(index=alias, id="1", document={"a": 1}, refresh=True)
    assert written["_index"] == index_name, "a write through an alias reports the concrete index"
    assert es.get(index=alias, id="1")["_source"] == {"a": 1}
    assert hit_ids(es.search(index=alias)) == ["1"]


def test_update_aliases_is_atomic_swap(
    es: Elasticsearch, make_index_name: Callable[[str], str], unique_name: Callable[[str], str]
) -> None:
    old, new = make_index_name("old"), make_index_name("new")
    alias = unique_name("alias")
    es.indices.create(index=old, aliases={alias: {}})
    es.indices.create(index=new)
    response = es.indices.update_aliases(
        actions=[{"remove": {"index": old, "alias": alias}}, {"add": {"index": new, "alias": alias}}]
    )
    assert response["acknowledged"] is True
    assert set(es.indices.get_alias(name=alias).body) == {new}


def test_update_aliases_with_missing_index_changes_nothing(
    es: Elasticsearch, index_name: str, unique_name: Callable[[str], str]
) -> None:
    alias = unique_name("alias")
    es.indices.create(index=index_name)
    with pytest.raises(NotFoundError) as raised:
        es.indices.update_aliases(
            actions=[
                {"add": {"index": index_name, "alias": alias}},
                {"add": {"index": index_name + "-missing", "alias": alias}},
            ]
        )
    assert error_type(raised.value) == "index_not_found_exception"
    assert not es.indices.exists_alias(name=alias), "all actions or none"


def test_write_index_receives_writes(
    es: Elasticsearch, make_index_name: Callable[[str], str], unique_name: Callable[[str], str]
) -> None:
    first, second = make_index_name("first"), make_index_name("second")
    alias = unique_name("alias")
    es.indices.create(index=first)
    es.indices.create(index=second)
    es.indices.update_aliases(
        actions=[
            {"add": {"index": first, "alias": alias, "is_write_index": False}},
            {"add": {"index": second, "alias": alias, "is_write_index": True}},
        ]
    )
    written = es.index(index=alias, id="1", document={"a": 1}, refresh=True)
    assert written["_index"] == second
    aliases = es.indices.get_alias(name=alias)
    assert aliases[second]["aliases"][alias] == {"is_write_index": True}
    assert aliases[first]["aliases"][alias] == {"is_write_index": False}
    assert es.count(index=alias)["count"] == 1


def test_alias_over_two_indices_without_write_index_rejects_writes(
    es: Elasticsearch, make_index_name: Callable[[str], str], unique_name: Callable[[str], str]
) -> None:
    first, second = make_index_name("first"), make_index_name("second")
    alias = unique_name("alias")
    es.indices.create(index=first, aliases={alias: {}})
    es.indices.create(index=second, aliases={alias: {}})
    with pytest.raises(BadRequestError) as raised:
        es.index(index=alias, id="1", document={"a": 1})
    assert error_type(raised.value) == "illegal_argument_exception"
    assert "no write index is defined" in raised.value.body["error"]["reason"]


def test_filtered_alias_limits_searches(es: Elasticsearch, index_name: str, unique_name: Callable[[str], str]) -> None:
    alias = unique_name("alias")
    es.indices.create(index=index_name, mappings={"properties": {"color": {"type": "keyword"}}})
    index_docs(es, index_name, [{"color": "red"}, {"color": "blue"}, {"color": "red"}])
    es.indices.put_alias(index=index_name, name=alias, filter={"term": {"color": "red"}})
    assert es.indices.get_alias(name=alias)[index_name]["aliases"][alias] == {"filter": {"term": {"color": "red"}}}
    assert sorted(hit_ids(es.search(index=alias))) == ["1", "3"]
    assert es.count(index=alias)["count"] == 2
    assert es.count(index=index_name)["count"] == 3
