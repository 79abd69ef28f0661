"""REST API specs: turn ``do: {api.name: {params}}`` into an HTTP request.

Mirrors the Java runner's ClientYamlTestClient: parameters naming a path part fill the URL, known
parameters go to the query string, ``body`` is the request body. The chosen path is the one whose parts
are all supplied, with the most parts (non-deprecated first on a tie). A call the spec cannot express --
no path for the supplied parts, an unknown parameter, a missing required body -- is a client-side error
(``ClientParamError``): exactly what ``catch: param`` expects.

Specs come from a primary directory (the 7.10.2 rest-api-spec for the 7.10.2 suite) with a fallback
directory (the ES 9.1 spec) for APIs and parameters the primary one lacks.
"""

from __future__ import annotations

import glob
import json
import os
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

# Accepted by every API (`_common.json`); the 9.1 spec copy ships without that file.
GLOBAL_PARAMS = frozenset({"pretty", "human", "error_trace", "source", "filter_path"})
NDJSON_CONTENT_TYPE = "application/x-ndjson"
JSON_CONTENT_TYPE = "application/json"
# Characters java.net.URI leaves as-is in a path (the Java runner encodes parts with it, and `/` by hand).
PATH_SAFE_CHARS = "!$&'()*+,;=:@"


class ClientParamError(Exception):
    """The call cannot be expressed with the API spec (what ``catch: param`` expects)."""


class UnknownApiError(Exception):
    """No spec defines the API."""


@dataclass(frozen=True)
class PathSpec:
    template: str
    methods: tuple[str, ...]
    parts: frozenset[str]
    deprecated: bool


@dataclass
class ApiSpec:
    name: str
    paths: list[PathSpec]
    params: set[str]
    required_params: set[str]
    has_body: bool
    body_required: bool
    ndjson: bool
    part_names: set[str] = field(default_factory=set)


@dataclass
class HttpRequest:
    method: str
    path: str  # with the query string
    body: bytes | None
    headers: dict[str, str]

    def describe(self, limit: int = 2000) -> str:
        text = f"{self.method} {self.path}"
        if self.body is not None:
            body = self.body.decode("utf-8", "replace")
            text += "\n" + (body if len(body) <= limit else body[:limit] + "...")
        return text


def _load_api_file(path: str) -> ApiSpec | None:
    with open(path, encoding="utf-8") as handle:
        document = json.load(handle)
    name, definition = next(iter(document.items()))
    if name == "documentation" or not isinstance(definition, dict) or "url" not in definition:
        return None  # _common.json and similar
    paths = [
        PathSpec(
            template=entry["path"],
            methods=tuple(entry.get("methods", ["GET"])),
            parts=frozenset((entry.get("parts") or {}).keys()),
            deprecated="deprecated" in entry,
        )
        for entry in definition["url"]["paths"]
    ]
    body = definition.get("body")
    content_types = (definition.get("headers") or {}).get("content_type") or []
    ndjson = bool(body and body.get("serialize") == "bulk") or any("ndjson" in ct for ct in content_types)
    return ApiSpec(
        name=name,
        paths=paths,
        params=set((definition.get("params") or {}).keys()),
        required_params={
            n for n, p in (definition.get("params") or {}).items() if isinstance(p, dict) and p.get("required")
        },
        has_body=body is not None,
        body_required=bool(body and body.get("required")),
        ndjson=ndjson,
        part_names={part for path in paths for part in path.parts},
    )


def _load_dir(directory: str) -> dict[str, ApiSpec]:
    specs: dict[str, ApiSpec] = {}
    for path in sorted(glob.glob(os.path.join(directory, "*.json"))):
        spec = _load_api_file(path)
        if spec is not None:
            specs[spec.name] = spec
    return specs


class SpecRegistry:
    """API specs by name, from a primary directory with a fallback."""

    def __init__(self, primary_dir: str, fallback_dir: str | None = None) -> None:
        self._primary = _load_dir(primary_dir)
        self._fallback = _load_dir(fallback_dir) if fallback_dir else {}

    def __len__(self) -> int:
        return len(set(self._primary) | set(self._fallback))

    def get(self, name: str) -> ApiSpec:
        spec = self._primary.get(name) or self._fallback.get(name)
        if spec is None:
            raise UnknownApiError(f"no REST API spec defines [{name}]")
        return spec

    def accepts_param(self, spec: ApiSpec, param: str) -> bool:
        """Known to the API in either spec version, or global."""
        if param in spec.params or param in GLOBAL_PARAMS:
            return True
        other = self._fallback.get(spec.name) if self._primary.get(spec.name) is spec else self._primary.get(spec.name)
        return other is not None and param in other.params

    def build_request(self, api: str, params: dict[str, Any], headers: dict[str, Any] | None = None) -> HttpRequest:
        """The HTTP request for a ``do`` call; raises ClientParamError like the Java client would."""
        spec = self.get(api)
        params = dict(params)
        body = params.pop("body", None)
        path_values: dict[str, Any] = {}
        query: list[tuple[str, str]] = []
        for key, value in params.items():
            if key in spec.part_names:
                path_values[key] = value
            elif self.accepts_param(spec, key):
                query.append((key, param_text(value)))
            else:
                raise ClientParamError(f"param [{key}] not supported by [{api}] api")
        missing = spec.required_params - set(params)
        if missing:
            raise ClientParamError(f"missing required parameter: {sorted(missing)} by [{api}] api")
        path_spec = choose_path(spec, set(path_values))
        path = fill_path(path_spec.template, path_values)
        if query:
            path += "?" + "&".join(f"{quote(k, safe='')}={quote(v, safe=',*')}" for k, v in query)
        request_headers = {str(k): param_text(v) for k, v in (headers or {}).items()}
        payload = self._encode_body(spec, body, request_headers)
        return HttpRequest(
            method=choose_method(path_spec.methods, payload is not None),
            path=path,
            body=payload,
            headers=request_headers,
        )

    @staticmethod
    def _encode_body(spec: ApiSpec, body: Any, headers: dict[str, str]) -> bytes | None:
        if body is None:
            if spec.body_required:
                raise ClientParamError(f"body is required by [{spec.name}] api")
            return None
        if not spec.has_body:
            raise ClientParamError(f"body is not supported by [{spec.name}] api")
        content_type = NDJSON_CONTENT_TYPE if spec.ndjson else JSON_CONTENT_TYPE
        if not any(name.lower() == "content-type" for name in headers):
            headers["Content-Type"] = content_type
        return encode_body(body, spec.ndjson)


def param_text(value: Any) -> str:
    """A parameter value as the query string / URL carries it: lists comma-joined, booleans lower-case."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(param_text(item) for item in value)
    if isinstance(value, dict):
        return json.dumps(value)
    if value is None:
        return ""
    return str(value)


def choose_path(spec: ApiSpec, supplied_parts: set[str]) -> PathSpec:
    """The most specific path whose parts are all supplied (non-deprecated first on a tie)."""
    candidates = [path for path in spec.paths if path.parts <= supplied_parts]
    if not candidates:
        raise ClientParamError(
            f"no path of [{spec.name}] can be built from the parts {sorted(supplied_parts)}; "
            f"paths: {[path.template for path in spec.paths]}"
        )
    return max(candidates, key=lambda path: (len(path.parts), not path.deprecated))


def choose_method(methods: tuple[str, ...], has_body: bool) -> str:
    """The first listed method, except that a body goes with a method meant for one when possible.

    ES's runner picks at random among the listed methods; determinism makes failures reproducible.
    """
    if has_body:
        for method in methods:
            if method in ("POST", "PUT"):
                return method
    return methods[0]


def fill_path(template: str, values: dict[str, Any]) -> str:
    path = template
    for name, value in values.items():
        path = path.replace("{" + name + "}", quote(param_text(value), safe=PATH_SAFE_CHARS))
    return path


def encode_body(body: Any, ndjson: bool) -> bytes:
    """JSON for ordinary APIs; for bulk-style APIs one JSON line per item, newline-terminated."""
    if ndjson:
        items = body if isinstance(body, list) else [body]
        lines = [item.rstrip("\n") if isinstance(item, str) else json.dumps(item, ensure_ascii=False) for item in items]
        return ("\n".join(lines) + "\n").encode("utf-8")
    if isinstance(body, str):
        return body.encode("utf-8")
    return json.dumps(body, ensure_ascii=False).encode("utf-8")
