"""Unit tests of the runner's pieces against the Java runner's documented semantics."""

from __future__ import annotations

import os

import pytest
from esyaml import assertions
from esyaml.assertions import AssertionFailure
from esyaml.discovery import ExclusionFileError, load_exclusions, matching_exclusion
from esyaml.model import Skip
from esyaml.objectpath import evaluate, split_path
from esyaml.parse import ParseError, parse_section
from esyaml.skips import parse_version, skip_reason, version_in_ranges
from esyaml.spec import ClientParamError, SpecRegistry
from esyaml.stash import Stash, StashError
from esyaml.yamlload import load_documents

SPEC_ROOT = os.environ.get("ES_REST_API_SPEC", "/work/shared/es-rest-api-spec")
needs_spec = pytest.mark.skipif(not os.path.isdir(SPEC_ROOT), reason="es-rest-api-spec not available")


def test_yaml_scalars_follow_the_core_schema() -> None:
    (doc,) = load_documents("a: 2020-01-01\nb: 010\nc: 1:20\nd: yes\n1: x\ne: 1.5\nf: ~\ng: true\n")
    assert doc == {"a": "2020-01-01", "b": 10, "c": "1:20", "d": "yes", "1": "x", "e": 1.5, "f": None, "g": True}


def test_split_path_honours_escaped_dots() -> None:
    assert split_path("") == []
    assert split_path(r"test\.index.settings.index\.number_of_shards") == [
        "test.index",
        "settings",
        "index.number_of_shards",
    ]


def test_evaluate_lists_maps_and_missing_levels() -> None:
    body = {"hits": {"hits": [{"_id": "1"}, {"_id": "2"}]}, "0": "zero"}
    assert evaluate(body, "hits.hits.1._id") == "2"
    assert evaluate(body, "hits.hits.5._id") is None
    assert evaluate(body, "hits.nope.x") is None
    assert evaluate(body, "0") == "zero"
    assert evaluate(body, "") is body


def test_evaluate_arbitrary_key_and_stash_in_path() -> None:
    body = {"nodes": {"abc": {"name": "n1"}}}
    assert evaluate(body, "nodes._arbitrary_key_") == "abc"
    stash = Stash()
    stash.put("node", "abc")
    assert evaluate(body, "nodes.$node.name", stash.resolve_text) == "n1"


def test_stash_keeps_types_and_embeds_text() -> None:
    stash = Stash()
    stash.put("n", 3)
    stash.put("body", {"a": {"b": "deep"}})
    assert stash.replace({"x": "$n", "y": "id-${n}", "$n": 1, "z": ["$n"]}) == {"x": 3, "y": "id-3", "3": 1, "z": [3]}
    assert stash.lookup("body.a.b") == "deep"
    with pytest.raises(StashError):
        stash.replace("$missing")


def test_match_numbers_booleans_and_regexes() -> None:
    assertions.assert_match("f", 1, 1.0)
    with pytest.raises(AssertionFailure):
        assertions.assert_match("f", 1, True)
    with pytest.raises(AssertionFailure):
        assertions.assert_match("f", {"a": 1}, {"a": 1, "b": 2})
    assertions.assert_match("f", "/^ foo \\s+ \\d+ $/", "foo 12")
    with pytest.raises(AssertionFailure):
        assertions.assert_match("f", "/\\d+/", 12)  # a regex needs a string
    cat_count = "/# epoch     timestamp              count\n^  \\d+   \\s  \\d{2}:\\d{2}:\\d{2}  \\s  0  \\n$/\n"
    assertions.assert_match("$body", cat_count, "1600000000 12:00:00 0\n")


def test_java_comments_mode_ignores_whitespace_in_classes() -> None:
    pattern = assertions.compile_match_regex("/^[a b]+$/")
    assert pattern.search("abab")
    assert not pattern.search("a b")


def test_truthiness_uses_java_text() -> None:
    for value in (None, "", False, "false", "FALSE", 0, "0"):
        assert not assertions.is_truthy(value), value
    for value in ({}, [], "x", 1, True, 0.0):
        assert assertions.is_truthy(value), value


def test_length_compare_contains() -> None:
    assertions.assert_length("f", 2, [1, 2])
    assertions.assert_length("f", 3, "abc")
    assertions.assert_compare("gte", "f", 2, 2.0)
    with pytest.raises(AssertionFailure):
        assertions.assert_compare("gt", "f", 5, 3)
    assertions.assert_contains("f", {"name": "x"}, [{"name": "y"}, {"name": "x", "v": 1}])
    assertions.assert_contains("f", 2, [1, 2])
    with pytest.raises(AssertionFailure):
        assertions.assert_contains("f", {"name": "z"}, [{"name": "x"}])


def test_version_ranges() -> None:
    v8 = parse_version("8.15.0-SNAPSHOT")
    assert v8 == (8, 15, 0)
    assert version_in_ranges("all", v8)
    assert version_in_ranges("7.4.0 - ", v8)
    assert not version_in_ranges(" - 7.99.99", v8)
    assert version_in_ranges(" - 6.99.99, 8.0.0 - 8.20.0", v8)
    assert skip_reason(Skip(version=" - 6.99.99"), v8) is None
    assert skip_reason(Skip(features=("yaml",)), v8) is not None
    assert skip_reason(Skip(features=("headers", "arbitrary_key")), v8) is None


def test_sections_parse_skips_and_reject_unknown_steps() -> None:
    section = parse_section(
        [
            {"skip": {"version": "all", "reason": "r"}},
            {"do": {"catch": "missing", "get": {"index": "i", "id": 1}}},
            {"match": {"a": 1, "b": 2}},
            {"is_true": ""},
        ],
        "here",
    )
    assert section.skip == Skip(version="all", reason="r")
    assert [type(step).__name__ for step in section.steps] == ["DoStep", "AssertStep", "AssertStep", "AssertStep"]
    with pytest.raises(ParseError):
        parse_section([{"frobnicate": {}}], "here")
    with pytest.raises(ParseError):
        parse_section([{"do": {"get": {}, "index": {}}}], "here")


def test_exclusions_need_reasons(tmp_path) -> None:
    good = tmp_path / "good.txt"
    good.write_text("# header\n\n# a reason\n^bulk/10_basic/Array of objects$\n")
    (exclusion,) = load_exclusions(str(good))
    assert exclusion.reason == "a reason"
    assert matching_exclusion("bulk/10_basic/Array of objects", [exclusion]) is exclusion
    bad = tmp_path / "bad.txt"
    bad.write_text("^bulk/10_basic/x$\n")
    with pytest.raises(ExclusionFileError):
        load_exclusions(str(bad))


@pytest.fixture(scope="module")
def registry() -> SpecRegistry:
    return SpecRegistry(os.path.join(SPEC_ROOT, "api"), os.path.join(SPEC_ROOT, "modern", "api"))


@needs_spec
def test_requests_pick_the_most_specific_path(registry: SpecRegistry) -> None:
    with_id = registry.build_request("index", {"index": "i", "id": 1, "refresh": True, "body": {"a": 1}})
    assert (with_id.method, with_id.path) == ("PUT", "/i/_doc/1?refresh=true")
    assert with_id.body == b'{"a": 1}'
    without_id = registry.build_request("index", {"index": "i", "body": {"a": 1}})
    assert (without_id.method, without_id.path) == ("POST", "/i/_doc")
    search = registry.build_request("search", {"index": ["a", "b"], "body": {"query": {"match_all": {}}}})
    assert (search.method, search.path) == ("POST", "/a,b/_search")
    weird = registry.build_request("get", {"index": "test-weird-index-中文", "id": "a/b"})
    assert weird.path == "/test-weird-index-%E4%B8%AD%E6%96%87/_doc/a%2Fb"


@needs_spec
def test_bulk_bodies_are_ndjson(registry: SpecRegistry) -> None:
    request = registry.build_request("bulk", {"refresh": True, "body": [{"index": {"_index": "i"}}, {"f": 1}]})
    assert request.body == b'{"index": {"_index": "i"}}\n{"f": 1}\n'
    assert request.headers["Content-Type"] == "application/x-ndjson"
    as_text = registry.build_request("bulk", {"body": '{"index": {"_index": "i"}}\n{"f": 1}'})
    assert as_text.body.endswith(b"\n")


@needs_spec
def test_client_side_parameter_errors(registry: SpecRegistry) -> None:
    with pytest.raises(ClientParamError):
        registry.build_request("create", {"index": "i", "body": {}})  # no id: no path
    with pytest.raises(ClientParamError):
        registry.build_request("get", {"index": "i", "id": 1, "no_such_param": 1})
    with pytest.raises(ClientParamError):
        registry.build_request("delete_by_query", {"index": "i"})  # body required
    assert registry.build_request("info", {"filter_path": "version"}).path == "/?filter_path=version"
