"""Wipe the cluster between tests, as Elasticsearch's own test framework does.

After each test (setup, body, teardown) every index, every template and every persistent/transient cluster
setting is removed so tests cannot leak state into each other. The cheapest request that works is tried
first (``DELETE /*``); when the target rejects it (ES 8 refuses wildcard deletes while
``action.destructive_requires_name`` is true) indices are listed and deleted by name. The strategy that
worked is remembered so later wipes cost one request.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import quote

from .transport import HttpResponse, HttpTransport

DELETE_BATCH = 50


class WipeError(Exception):
    """The cluster could not be brought back to an empty state."""


def _ok(response: HttpResponse) -> bool:
    return response.status < 300 or response.status == 404


@dataclass
class ClusterWiper:
    transport: HttpTransport
    _wildcard_delete_works: bool | None = None
    problems: list[str] = field(default_factory=list)

    def wipe(self) -> list[str]:
        """Remove indices, templates and cluster settings; returns the problems met (empty when clean)."""
        self.problems = []
        self._delete_indices()
        for kind in ("_index_template", "_component_template", "_template"):
            self._delete_templates(kind)
        self._reset_cluster_settings()
        return self.problems

    def _delete_indices(self) -> None:
        if self._wildcard_delete_works is not False:
            response = self.transport.call("DELETE", "/*?expand_wildcards=all")
            self._wildcard_delete_works = _ok(response)
            if self._wildcard_delete_works:
                return
        names = self._list_indices()
        for start in range(0, len(names), DELETE_BATCH):
            batch = ",".join(quote(name, safe="") for name in names[start : start + DELETE_BATCH])
            response = self.transport.call("DELETE", f"/{batch}?expand_wildcards=all&ignore_unavailable=true")
            if not _ok(response):
                self.problems.append(f"DELETE /{batch} -> {response.status}: {response.text()[:300]}")

    def _list_indices(self) -> list[str]:
        response = self.transport.call("GET", "/_cat/indices?format=json&h=index&expand_wildcards=all")
        is_json, body = response.parsed()
        if response.status == 200 and is_json and isinstance(body, list):
            return [row["index"] for row in body if isinstance(row, dict) and "index" in row]
        response = self.transport.call("GET", "/*?expand_wildcards=all")
        is_json, body = response.parsed()
        if response.status == 200 and is_json and isinstance(body, dict):
            return list(body)
        if response.status != 404:
            self.problems.append(f"cannot list indices: GET /*?expand_wildcards=all -> {response.status}")
        return []

    def _delete_templates(self, kind: str) -> None:
        response = self.transport.call("DELETE", f"/{kind}/*")
        if _ok(response) or response.status == 405:
            return
        # No wildcard support: list and delete one by one.
        listing = self.transport.call("GET", f"/{kind}")
        is_json, body = listing.parsed()
        if listing.status != 200 or not is_json:
            return  # the API itself is not there; nothing can have been created through it
        for name in _template_names(kind, body):
            deleted = self.transport.call("DELETE", f"/{kind}/{quote(name, safe='')}")
            if not _ok(deleted):
                self.problems.append(f"DELETE /{kind}/{name} -> {deleted.status}")

    def _reset_cluster_settings(self) -> None:
        response = self.transport.call("GET", "/_cluster/settings?flat_settings=true")
        is_json, body = response.parsed()
        if response.status != 200 or not is_json or not isinstance(body, dict):
            if response.status != 404:
                self.problems.append(f"GET /_cluster/settings -> {response.status}")
            return
        reset = {
            scope: {key: None for key in body.get(scope) or {}}
            for scope in ("persistent", "transient")
            if body.get(scope)
        }
        if not reset:
            return
        put = self.transport.call("PUT", "/_cluster/settings", reset)
        if put.status >= 300:
            self.problems.append(f"PUT /_cluster/settings (reset) -> {put.status}: {put.text()[:300]}")


def _template_names(kind: str, body: object) -> list[str]:
    if kind == "_template" and isinstance(body, dict):
        return list(body)
    key = "index_templates" if kind == "_index_template" else "component_templates"
    if isinstance(body, dict) and isinstance(body.get(key), list):
        return [entry["name"] for entry in body[key] if isinstance(entry, dict) and "name" in entry]
    return []
