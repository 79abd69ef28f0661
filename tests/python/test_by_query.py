"""delete_by_query and update_by_query (the reindex module's APIs)."""

from __future__ import annotations

import pytest
from elasticsearch import Elasticsearch
from support import index_docs


@pytest.fixture()
def tagged(es: Elasticsearch, index_name: str) -> str:
    es.indices.create(index=index_name, mappings={"properties": {"tag": {"type": "keyword"}, "n": {"type": "long"}}})
    index_docs(es, index_name, ({"tag": "a" if n % 2 else "b", "n": n} for n in range(10)))
    return index_name


def test_delete_by_query(es: Elasticsearch, tagged: str) -> None:
    response = es.delete_by_query(index=tagged, query={"term": {"tag": "a"}}, refresh=True)
    assert response["deleted"] == 5
    assert response["total"] == 5
    assert response["failures"] == []
    assert response["version_conflicts"] == 0
    assert response["timed_out"] is False
    assert es.count(index=tagged)["count"] == 5
    assert es.count(index=tagged, query={"term": {"tag": "a"}})["count"] == 0


def test_delete_by_query_matching_nothing(es: Elasticsearch, tagged: str) -> None:
    response = es.delete_by_query(index=tagged, query={"term": {"tag": "zzz"}})
    assert (response["deleted"], response["total"]) == (0, 0)


def test_update_by_query_without_script_reindexes_in_place(es: Elasticsearch, tagged: str) -> None:
    response = es.update_by_query(index=tagged, query={"term": {"tag": "b"}}, refresh=True)
    assert response["updated"] == 5
    assert response["total"] == 5
    assert response["failures"] == []
    assert es.get(index=tagged, id="1")["_version"] == 2  # doc 1 has n=0, tag "b"
    assert es.get(index=tagged, id="2")["_version"] == 1


def test_update_by_query_picks_up_new_mappings(es: Elasticsearch, index_name: str) -> None:
    es.indices.create(index=index_name, mappings={"dynamic": False, "properties": {"a": {"type": "keyword"}}})
    index_docs(es, index_name, [{"a": "x", "late": "found"}])
    assert es.count(index=index_name, query={"term": {"late": "found"}})["count"] == 0
    es.indices.put_mapping(index=index_name, properties={"late": {"type": "keyword"}})
    es.update_by_query(index=index_name, refresh=True)
    assert es.count(index=index_name, query={"term": {"late": "found"}})["count"] == 1


@pytest.mark.pending("painless scripts")
def test_update_by_query_with_script(es: Elasticsearch, tagged: str) -> None:
    response = es.update_by_query(
        index=tagged, query={"term": {"tag": "a"}}, script={"source": "ctx._source.n += 100"}, refresh=True
    )
    assert response["updated"] == 5
    assert es.count(index=tagged, query={"range": {"n": {"gte": 100}}})["count"] == 5
