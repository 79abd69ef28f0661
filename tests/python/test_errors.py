"""Error responses: status codes map to the client's exception classes and carry ES error bodies."""

from __future__ import annotations

import json

import pytest
from elasticsearch import BadRequestError, Elasticsearch, NotFoundError
from support import error_type, index_docs, root_cause_types


def test_missing_index(es: Elasticsearch, index_name: str) -> None:
    with pytest.raises(NotFoundError) as raised:
        es.get(index=index_name, id="1")
    error = raised.value
    assert error.meta.status == 404
    assert error.body["status"] == 404
    assert error_type(error) == "index_not_found_exception"
    assert error.body["error"]["reason"] == f"no such index [{index_name}]"
    assert error.body["error"]["index"] == index_name
    assert error.body["error"]["resource.type"] == "index_or_alias"
    assert error.body["error"]["resource.id"] == index_name
    assert root_cause_types(error) == ["index_not_found_exception"]
    assert error.meta.headers["x-elastic-product"] == "Elasticsearch"

    with pytest.raises(NotFoundError) as raised:
        es.search(index=index_name)
    assert error_type(raised.value) == "index_not_found_exception"


def test_missing_index_tolerated_on_request(es: Elasticsearch, index_name: str) -> None:
    response = es.search(index=index_name, ignore_unavailable=True)
    assert response["hits"]["total"]["value"] == 0
    assert es.count(index=f"{index_name}*")["count"] == 0, "a wildcard matching nothing is not an error"


@pytest.mark.parametrize(
    "bad_name", ["UpperCase", "_leading-underscore", "-leading-dash", "has space", "star*", "a,b?"]
)
def test_invalid_index_names(es: Elasticsearch, bad_name: str) -> None:
    with pytest.raises(BadRequestError) as raised:
        es.indices.create(index=bad_name)
    assert error_type(raised.value) == "invalid_index_name_exception"
    assert raised.value.body["status"] == 400


def test_unknown_query_is_a_parsing_exception(es: Elasticsearch, index_name: str) -> None:
    index_docs(es, index_name, [{"a": 1}])
    with pytest.raises(BadRequestError) as raised:
        es.search(index=index_name, query={"no_such_query": {"a": 1}})
    assert error_type(raised.value) == "parsing_exception"
    assert "unknown query [no_such_query]" in raised.value.body["error"]["reason"]


def test_unknown_query_option_is_a_parsing_exception(es: Elasticsearch, index_name: str) -> None:
    index_docs(es, index_name, [{"a": 1}])
    with pytest.raises(BadRequestError) as raised:
        es.search(index=index_name, query={"match": {"a": {"query": "x", "bogus_option": 1}}})
    assert error_type(raised.value) == "parsing_exception"


def test_malformed_json_body(es: Elasticsearch, index_name: str) -> None:
    index_docs(es, index_name, [{"a": 1}])
    with pytest.raises(BadRequestError) as raised:  # raw bytes: the client would never send broken JSON
        es.perform_request(
            "POST",
            f"/{index_name}/_search",
            headers={"content-type": "application/json", "accept": "application/json"},
            body=b'{"query": {"match_all": {}',
        )
    assert error_type(raised.value) in {"parsing_exception", "x_content_parse_exception", "json_parse_exception"}


def test_result_window_is_limited(es: Elasticsearch, index_name: str) -> None:
    index_docs(es, index_name, [{"a": 1}])
    with pytest.raises(BadRequestError) as raised:
        es.search(index=index_name, from_=9_995, size=10)
    assert raised.value.meta.status == 400
    assert "illegal_argument_exception" in root_cause_types(raised.value)
    assert "Result window is too large" in json.dumps(raised.value.body)
    assert len(es.search(index=index_name, from_=9_990, size=10)["hits"]["hits"]) == 0, "exactly 10000 is allowed"


def test_unknown_url_parameter_is_rejected(es: Elasticsearch, index_name: str) -> None:
    index_docs(es, index_name, [{"a": 1}])
    with pytest.raises(BadRequestError) as raised:
        es.perform_request(
            "GET", f"/{index_name}/_search", params={"no_such_param": "1"}, headers={"accept": "application/json"}
        )
    assert error_type(raised.value) == "illegal_argument_exception"
    assert "unrecognized parameter: [no_such_param]" in raised.value.body["error"]["reason"]
