"""Search and count: the common query types, paging, sorting, _source filtering, total hits."""

from __future__ import annotations

import pytest
from elasticsearch import BadRequestError, Elasticsearch
from support import hit_ids, index_docs, total_hits

BOOKS = [
    {"title": "The Quick Brown Fox", "genre": "fable", "pages": 120, "year": 1990, "rating": 4.5},
    {"title": "A Lazy Dog Sleeps", "genre": "fable", "pages": 80, "year": 2001, "rating": 3.0},
    {"title": "Quick Guide to Rust", "genre": "tech", "pages": 300, "year": 2021, "rating": 4.8},
    {"title": "Brown Bread Baking", "genre": "food", "pages": 210, "year": 2015},
    {"title": "Dogs and Foxes", "genre": "nature", "pages": 95, "year": 1987, "rating": 2.5},
]


@pytest.fixture()
def books(es: Elasticsearch, index_name: str) -> str:
    es.indices.create(
        index=index_name,
        settings={"number_of_shards": 2, "number_of_replicas": 0},
        mappings={
            "properties": {
                "title": {"type": "text", "fields": {"raw": {"type": "keyword"}}},
                "genre": {"type": "keyword"},
                "pages": {"type": "integer"},
                "year": {"type": "integer"},
                "rating": {"type": "float"},
            }
        },
    )
    index_docs(es, index_name, BOOKS)
    return index_name


def ids(es: Elasticsearch, index: str, query: dict) -> list[str]:
    return sorted(hit_ids(es.search(index=index, query=query, size=100)))


def test_match_all(es: Elasticsearch, books: str) -> None:
    response = es.search(index=books, query={"match_all": {}})
    assert response["hits"]["total"] == {"value": 5, "relation": "eq"}
    assert response["timed_out"] is False
    assert response["_shards"]["total"] == 2 and response["_shards"]["failed"] == 0
    assert isinstance(response["took"], int)
    hit = response["hits"]["hits"][0]
    assert hit["_index"] == books
    assert hit["_score"] == 1.0
    assert response["hits"]["max_score"] == 1.0


def test_match_is_analyzed(es: Elasticsearch, books: str) -> None:
    response = es.search(index=books, query={"match": {"title": "QUICK"}})
    assert sorted(hit_ids(response)) == ["1", "3"]
    assert all(hit["_score"] > 0 for hit in response["hits"]["hits"])
    assert ids(es, books, {"match": {"title": {"query": "quick brown", "operator": "and"}}}) == ["1"]


def test_term_is_exact(es: Elasticsearch, books: str) -> None:
    assert ids(es, books, {"term": {"genre": "fable"}}) == ["1", "2"]
    assert ids(es, books, {"term": {"genre": "Fable"}}) == []
    assert ids(es, books, {"term": {"title": "Quick"}}) == [], "text is indexed lower-cased"
    assert ids(es, books, {"term": {"title.raw": "Quick Guide to Rust"}}) == ["3"]


def test_terms(es: Elasticsearch, books: str) -> None:
    assert ids(es, books, {"terms": {"genre": ["tech", "food", "none"]}}) == ["3", "4"]


def test_range(es: Elasticsearch, books: str) -> None:
    assert ids(es, books, {"range": {"pages": {"gte": 95, "lt": 210}}}) == ["1", "5"]
    assert ids(es, books, {"range": {"rating": {"gt": 4.5}}}) == ["3"]


def test_bool(es: Elasticsearch, books: str) -> None:
    query = {
        "bool": {
            "must": [{"match": {"title": "quick brown dog"}}],
            "filter": [{"range": {"year": {"gte": 1989}}}],
            "must_not": [{"term": {"genre": "food"}}],
        }
    }
    assert ids(es, books, query) == ["1", "2", "3"]
    should = {
        "bool": {
            "should": [{"term": {"genre": "tech"}}, {"term": {"genre": "food"}}, {"term": {"genre": "fable"}}],
            "minimum_should_match": 1,
            "filter": {"range": {"pages": {"gt": 100}}},
        }
    }
    assert ids(es, books, should) == ["1", "3", "4"]


def test_ids_and_exists(es: Elasticsearch, books: str) -> None:
    assert ids(es, books, {"ids": {"values": ["2", "4", "404"]}}) == ["2", "4"]
    assert ids(es, books, {"exists": {"field": "rating"}}) == ["1", "2", "3", "5"]
    assert ids(es, books, {"bool": {"must_not": {"exists": {"field": "rating"}}}}) == ["4"]


def test_from_size_and_sort(es: Elasticsearch, books: str) -> None:
    page1 = es.search(index=books, sort=[{"pages": "desc"}], size=2)
    page2 = es.search(index=books, sort=[{"pages": "desc"}], size=2, from_=2)
    page3 = es.search(index=books, sort=[{"pages": "desc"}], size=2, from_=4)
    assert hit_ids(page1) + hit_ids(page2) + hit_ids(page3) == ["3", "4", "1", "5", "2"]
    assert total_hits(page2) == 5
    first = page1["hits"]["hits"][0]
    assert first["sort"] == [300]
    assert first["_score"] is None, "sorting by a field does not score"
    by_two = es.search(index=books, sort=[{"genre": "asc"}, {"year": "desc"}], size=10)
    assert hit_ids(by_two) == ["2", "1", "4", "5", "3"]
    missing_last = es.search(index=books, sort=[{"rating": {"order": "asc"}}], size=10)
    assert hit_ids(missing_last)[-1] == "4", "documents without the field sort last"


def test_source_filtering(es: Elasticsearch, books: str) -> None:
    query = {"ids": {"values": ["1"]}}
    (hit,) = es.search(index=books, query=query, source=["title", "year"])["hits"]["hits"]
    assert hit["_source"] == {"title": "The Quick Brown Fox", "year": 1990}
    (hit,) = es.search(index=books, query=query, source_excludes=["title", "rating"])["hits"]["hits"]
    assert hit["_source"] == {"genre": "fable", "pages": 120, "year": 1990}
    (hit,) = es.search(index=books, query=query, source=False)["hits"]["hits"]
    assert "_source" not in hit


def test_track_total_hits(es: Elasticsearch, books: str) -> None:
    limited = es.search(index=books, track_total_hits=2, size=0)
    assert limited["hits"]["total"] == {"value": 2, "relation": "gte"}
    untracked = es.search(index=books, track_total_hits=False, size=1)
    assert "total" not in untracked["hits"]
    assert len(untracked["hits"]["hits"]) == 1
    exact = es.search(index=books, track_total_hits=True, size=0)
    assert exact["hits"]["total"] == {"value": 5, "relation": "eq"}
    assert exact["hits"]["hits"] == []
    as_int = es.search(index=books, rest_total_hits_as_int=True, size=0)
    assert as_int["hits"]["total"] == 5


def test_query_string_q_parameter(es: Elasticsearch, books: str) -> None:
    assert sorted(hit_ids(es.search(index=books, q="genre:tech"))) == ["3"]


def test_count(es: Elasticsearch, books: str) -> None:
    everything = es.count(index=books)
    assert everything["count"] == 5
    assert everything["_shards"]["failed"] == 0
    assert es.count(index=books, query={"term": {"genre": "fable"}})["count"] == 2
    assert es.count(index=books, q="pages:>100")["count"] == 3


def test_search_across_indices_and_wildcards(es: Elasticsearch, books: str, make_index_name) -> None:
    other = make_index_name("other")
    index_docs(es, other, [{"title": "Quick notes"}])
    assert total_hits(es.search(index=f"{books},{other}", query={"match": {"title": "quick"}})) == 3
    prefix = books.rsplit("-", 1)[0]
    assert total_hits(es.search(index=f"{books}*", query={"match_all": {}})) == 5
    assert es.count(index=f"{prefix}*")["count"] >= 5


def highlights(response: dict) -> dict[str, dict]:
    return {hit["_id"]: hit.get("highlight") for hit in response["hits"]["hits"]}


def test_highlight(es: Elasticsearch, books: str) -> None:
    response = es.search(
        index=books,
        query={"match": {"title": "quick fox"}},
        highlight={"fields": {"title": {}}},
    )
    assert highlights(response) == {
        "1": {"title": ["The <em>Quick</em> Brown <em>Fox</em>"]},
        "3": {"title": ["<em>Quick</em> Guide to Rust"]},
    }
    # A phrase is highlighted as one span; custom tags; a field the query does not touch is left out.
    response = es.search(
        index=books,
        query={"match_phrase": {"title": "brown fox"}},
        highlight={"pre_tags": ["<b>"], "post_tags": ["</b>"], "fields": [{"title": {}}, {"genre": {}}]},
    )
    assert highlights(response) == {"1": {"title": ["The Quick <b>Brown Fox</b>"]}}
    # Patterns cover text and keyword fields; require_field_match: false lets the title terms
    # highlight the keyword multi-field; no_match_size returns the start of a field without matches.
    response = es.search(
        index=books,
        query={"bool": {"must": {"prefix": {"title.raw": "Dogs"}}}},
        highlight={"require_field_match": False, "fields": {"title*": {}, "genre": {"no_match_size": 3}}},
    )
    assert highlights(response) == {
        "5": {"title.raw": ["<em>Dogs and Foxes</em>"], "genre": ["nature"]},
    }
    # Only the hits returned are highlighted, on every page.
    page = es.search(
        index=books, query={"match": {"title": "quick"}}, highlight={"fields": {"title": {}}}, size=1, from_=1
    )
    assert len(page["hits"]["hits"]) == 1 and "highlight" in page["hits"]["hits"][0]


def test_highlight_errors(es: Elasticsearch, books: str) -> None:
    with pytest.raises(BadRequestError) as unknown:
        es.search(index=books, query={"match": {"title": "fox"}}, highlight={"fields": {"title": {}}, "nope": 1})
    assert unknown.value.body["error"]["type"] == "x_content_parse_exception"
    assert unknown.value.body["error"]["reason"] == "[highlight] unknown field [nope]"
    with pytest.raises(BadRequestError) as fvh:
        es.search(index=books, query={"match": {"title": "fox"}}, highlight={"fields": {"title": {"type": "fvh"}}})
    assert fvh.value.body["error"]["type"] == "search_phase_execution_exception"
    assert fvh.value.body["error"]["root_cause"][0] == {
        "type": "illegal_argument_exception",
        "reason": "the field [title] should be indexed with term vector with position offsets "
        "to be used with fast vector highlighter",
    }


def test_point_in_time_pages_a_frozen_view_with_search_after(es: Elasticsearch, books: str) -> None:
    pit = es.open_point_in_time(index=books, keep_alive="1m")
    # A write after the point in time is not seen through it.
    es.index(index=books, id="late", document={"title": "Late Arrival", "genre": "fable", "year": 2030}, refresh=True)
    seen: list[str] = []
    search_after = None
    while True:
        body = {"size": 2, "sort": [{"year": "asc"}], "pit": {"id": pit["id"], "keep_alive": "1m"}}
        if search_after is not None:
            body["search_after"] = search_after
        resp = es.search(body=body)
        assert resp["pit_id"] == pit["id"]
        hits = resp["hits"]["hits"]
        if not hits:
            break
        seen.extend(h["_id"] for h in hits)
        # The implicit `_shard_doc` tiebreaker is the last sort value.
        assert len(hits[-1]["sort"]) == 2
        search_after = hits[-1]["sort"]
    assert len(seen) == len(BOOKS) and len(set(seen)) == len(BOOKS)
    assert "late" not in seen
    closed = es.close_point_in_time(id=pit["id"])
    assert closed["succeeded"] is True and closed["num_freed"] == 1


def test_field_collapsing_keeps_the_best_hit_per_value(es: Elasticsearch, books: str) -> None:
    resp = es.search(
        index=books,
        collapse={"field": "genre", "inner_hits": {"name": "by_year", "size": 5, "sort": [{"year": "asc"}]}},
        sort=[{"year": "desc"}],
    )
    hits = resp["hits"]["hits"]
    assert [h["fields"]["genre"][0] for h in hits] == ["tech", "food", "fable", "nature"]
    assert resp["hits"]["total"]["value"] == len(BOOKS)
    fables = hits[2]["inner_hits"]["by_year"]["hits"]
    assert fables["total"]["value"] == 2
    assert [h["_source"]["year"] for h in fables["hits"]] == [1990, 2001]
