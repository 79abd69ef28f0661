"""cat APIs in both shapes clients use: ``format=json`` (string values) and the text table."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from elasticsearch import Elasticsearch
from support import index_docs


@pytest.fixture()
def three_docs(es: Elasticsearch, index_name: str) -> str:
    es.indices.create(index=index_name, settings={"number_of_shards": 1, "number_of_replicas": 0})
    index_docs(es, index_name, [{"n": 1}, {"n": 2}, {"n": 3}])
    return index_name


def text_rows(response: object) -> list[list[str]]:
    body = getattr(response, "body", response)
    assert isinstance(body, str), f"expected a text table, got {type(body).__name__}"
    return [line.split() for line in body.splitlines() if line.strip()]


def test_cat_indices(es: Elasticsearch, three_docs: str) -> None:
    (row,) = es.cat.indices(index=three_docs, format="json")
    assert row["index"] == three_docs
    assert row["health"] == "green"
    assert row["status"] == "open"
    assert (row["pri"], row["rep"], row["docs.count"]) == ("1", "0", "3")
    assert row["uuid"]
    header, line = text_rows(es.cat.indices(index=three_docs, v=True))
    assert header[:3] == ["health", "status", "index"]
    assert line[:3] == ["green", "open", three_docs]
    (only,) = text_rows(es.cat.indices(index=three_docs, h="index,docs.count"))
    assert only == [three_docs, "3"]


def test_cat_health(es: Elasticsearch) -> None:
    (row,) = es.cat.health(format="json")
    assert row["status"] in ("green", "yellow")
    assert row["cluster"] == es.info()["cluster_name"]
    assert int(row["node.total"]) >= 1
    (line,) = text_rows(es.cat.health(ts=False))
    assert line[0] == row["cluster"]
    assert line[1] == row["status"]


def test_cat_nodes(es: Elasticsearch) -> None:
    rows = es.cat.nodes(format="json", h="name,ip,node.role,master")
    assert len(rows) >= 1
    assert all(row["name"] and row["ip"] for row in rows)
    assert [row["master"] for row in rows].count("*") == 1
    header, *lines = text_rows(es.cat.nodes(v=True, h="name,ip"))
    assert header == ["name", "ip"]
    assert len(lines) == len(rows)


def test_cat_shards(es: Elasticsearch, three_docs: str) -> None:
    (row,) = es.cat.shards(index=three_docs, format="json")
    assert (row["index"], row["shard"], row["prirep"], row["state"], row["docs"]) == (
        three_docs,
        "0",
        "p",
        "STARTED",
        "3",
    )
    (line,) = text_rows(es.cat.shards(index=three_docs))
    assert line[:5] == [three_docs, "0", "p", "STARTED", "3"]


def test_cat_count(es: Elasticsearch, three_docs: str) -> None:
    (row,) = es.cat.count(index=three_docs, format="json")
    assert row["count"] == "3"
    assert row["epoch"].isdigit()
    (line,) = text_rows(es.cat.count(index=three_docs))
    assert line[-1] == "3"


def test_cat_aliases(es: Elasticsearch, three_docs: str, unique_name: Callable[[str], str]) -> None:
    alias = unique_name("alias")
    es.indices.put_alias(index=three_docs, name=alias, is_write_index=True)
    (row,) = es.cat.aliases(name=alias, format="json")
    assert (row["alias"], row["index"], row["filter"], row["is_write_index"]) == (alias, three_docs, "-", "true")
    (line,) = text_rows(es.cat.aliases(name=alias))
    assert line[:2] == [alias, three_docs]


def test_cat_templates(es: Elasticsearch, unique_name: Callable[[str], str]) -> None:
    name = unique_name("tpl")
    es.indices.put_index_template(name=name, index_patterns=[f"{name}-*"], priority=7)
    try:
        (row,) = es.cat.templates(name=name, format="json")
        assert row["name"] == name
        assert row["index_patterns"] == f"[{name}-*]"
        assert row["order"] == "7"
        (line,) = text_rows(es.cat.templates(name=name))
        assert line[:2] == [name, f"[{name}-*]"]
    finally:
        es.indices.delete_index_template(name=name)
