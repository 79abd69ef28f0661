"""Cluster and node APIs: health, state, cluster settings, nodes info and stats."""

from __future__ import annotations

import pytest
from elasticsearch import BadRequestError, Elasticsearch
from support import error_type, index_docs

SETTING = "cluster.routing.allocation.enable"


def test_health(es: Elasticsearch) -> None:
    health = es.cluster.health(wait_for_status="yellow", timeout="30s")
    assert health["status"] in ("green", "yellow")
    assert health["timed_out"] is False
    assert health["cluster_name"] == es.info()["cluster_name"]
    assert health["number_of_nodes"] >= 1
    assert health["number_of_data_nodes"] >= 1
    for key in (
        "active_primary_shards",
        "active_shards",
        "relocating_shards",
        "initializing_shards",
        "unassigned_shards",
        "number_of_pending_tasks",
    ):
        assert isinstance(health[key], int), key
    assert isinstance(health["active_shards_percent_as_number"], (int, float))


def test_health_of_one_index(es: Elasticsearch, index_name: str) -> None:
    es.indices.create(index=index_name, settings={"number_of_shards": 2, "number_of_replicas": 0})
    health = es.cluster.health(index=index_name, wait_for_status="green", timeout="30s")
    assert health["status"] == "green"
    assert health["active_primary_shards"] == 2
    by_index = es.cluster.health(index=index_name, level="indices")
    assert by_index["indices"][index_name]["number_of_shards"] == 2
    assert by_index["indices"][index_name]["status"] == "green"


def test_state(es: Elasticsearch, index_name: str) -> None:
    es.indices.create(index=index_name, settings={"number_of_shards": 1, "number_of_replicas": 0})
    state = es.cluster.state()
    assert state["cluster_name"] == es.info()["cluster_name"]
    assert state["cluster_uuid"]
    assert state["master_node"] in state["nodes"]
    assert index_name in state["metadata"]["indices"]
    assert index_name in state["routing_table"]["indices"]

    metadata_only = es.cluster.state(metric="metadata", index=index_name)
    assert set(metadata_only["metadata"]["indices"]) == {index_name}
    index_meta = metadata_only["metadata"]["indices"][index_name]
    assert index_meta["state"] == "open"
    assert index_meta["settings"]["index"]["number_of_shards"] == "1"
    assert "routing_table" not in metadata_only


def test_put_and_get_cluster_settings(es: Elasticsearch) -> None:
    try:
        response = es.cluster.put_settings(persistent={SETTING: "primaries"})
        assert response["acknowledged"] is True
        assert response["persistent"] == {"cluster": {"routing": {"allocation": {"enable": "primaries"}}}}
        nested = es.cluster.get_settings()
        assert nested["persistent"]["cluster"]["routing"]["allocation"]["enable"] == "primaries"
        flat = es.cluster.get_settings(flat_settings=True)
        assert flat["persistent"][SETTING] == "primaries"
        assert "transient" in flat
    finally:
        reset = es.cluster.put_settings(persistent={SETTING: None})
        assert reset["acknowledged"] is True
    assert SETTING not in es.cluster.get_settings(flat_settings=True)["persistent"]
    defaults = es.cluster.get_settings(include_defaults=True, flat_settings=True)
    assert defaults["defaults"][SETTING] == "all"


def test_unknown_cluster_setting_is_rejected(es: Elasticsearch) -> None:
    with pytest.raises(BadRequestError) as raised:
        es.cluster.put_settings(persistent={"no.such.setting": 1})
    assert error_type(raised.value) == "illegal_argument_exception"


def test_nodes_info(es: Elasticsearch) -> None:
    info = es.nodes.info()
    assert info["_nodes"]["total"] >= 1
    assert info["_nodes"]["failed"] == 0
    assert info["cluster_name"]
    for node_id, node in info["nodes"].items():
        assert node_id
        assert node["name"]
        assert node["version"].startswith("8.")
        assert isinstance(node["roles"], list) and node["roles"] == sorted(node["roles"])
        assert any(role.startswith("data") for role in node["roles"]), node["roles"]
        assert node["transport_address"]
        assert node["host"] and node["ip"]
    http_only = es.nodes.info(metric="http")
    for node in http_only["nodes"].values():
        assert node["http"]["publish_address"]


def test_nodes_stats(es: Elasticsearch, index_name: str) -> None:
    index_docs(es, index_name, [{"a": 1}, {"a": 2}])
    stats = es.nodes.stats()
    assert stats["_nodes"]["total"] >= 1
    assert stats["cluster_name"]
    total_docs = 0
    for node in stats["nodes"].values():
        assert node["name"]
        assert isinstance(node["timestamp"], int)
        total_docs += node["indices"]["docs"]["count"]
    assert total_docs >= 2
    indices_only = es.nodes.stats(metric="indices")
    for node in indices_only["nodes"].values():
        assert "indices" in node
