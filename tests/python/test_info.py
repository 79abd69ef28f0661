"""info and ping: the first calls every client makes, and the product check behind them."""

from __future__ import annotations

from elasticsearch import Elasticsearch


def test_info_reports_an_es8_compatible_node(es: Elasticsearch) -> None:
    info = es.info()
    assert info.meta.status == 200
    assert info.meta.headers["x-elastic-product"] == "Elasticsearch"
    assert info["name"]
    assert info["cluster_name"]
    assert info["cluster_uuid"]
    assert info["tagline"] == "You Know, for Search"
    version = info["version"]
    assert version["number"].startswith("8."), version["number"]
    assert version["build_flavor"] == "default"
    assert version["lucene_version"]
    assert version["minimum_wire_compatibility_version"]
    assert version["minimum_index_compatibility_version"]


def test_ping(es: Elasticsearch) -> None:
    assert es.ping() is True


def test_error_responses_also_carry_the_product_header(es: Elasticsearch) -> None:
    response = es.options(ignore_status=404).indices.get(index="py-info-no-such-index")
    assert response.meta.status == 404
    assert response.meta.headers["x-elastic-product"] == "Elasticsearch"
