"""A small keep-alive HTTP client for the runner.

Why not urllib: it opens a connection per request and raises on 4xx/5xx; the runner sends thousands of
requests and wants every status back as data. One ``http.client`` connection is reused and re-opened once
if the server closed it between requests.
"""

from __future__ import annotations

import http.client
import json
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .spec import HttpRequest


class TransportError(Exception):
    """The server could not be reached or did not answer in time."""

    def __init__(self, message: str, timed_out: bool = False) -> None:
        super().__init__(message)
        self.timed_out = timed_out


@dataclass
class HttpResponse:
    status: int
    headers: dict[str, str]
    raw: bytes
    method: str

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")

    def text(self) -> str:
        return self.raw.decode("utf-8", "replace")

    def parsed(self) -> tuple[bool, Any]:
        """(True, value) for a JSON body, (False, text) for anything else (cat APIs, empty bodies)."""
        if not self.raw:
            return False, ""
        looks_json = "json" in self.content_type or (not self.content_type and self.raw[:1] in (b"{", b"["))
        if looks_json:
            try:
                return True, json.loads(self.raw)
            except ValueError:
                return False, self.text()
        return False, self.text()

    def describe(self, limit: int = 3000) -> str:
        text = self.text()
        if len(text) > limit:
            text = text[:limit] + "..."
        return f"{self.status} {self.content_type}\n{text}"


class HttpTransport:
    """Sends HttpRequests to one base URL over a reused connection."""

    def __init__(self, base_url: str, timeout: float = 60.0) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", ""):
            raise ValueError(f"only http:// URLs are supported, got {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or 9200
        self._prefix = parts.path.rstrip("/")
        self._timeout = timeout
        self._connection: http.client.HTTPConnection | None = None

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def send(self, request: HttpRequest) -> HttpResponse:
        while True:
            reused = self._connection is not None
            connection = self._connection or http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)
            self._connection = connection
            try:
                connection.request(
                    request.method, self._prefix + request.path, body=request.body, headers=request.headers
                )
                response = connection.getresponse()
                raw = response.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as error:
                self.close()
                if reused:
                    continue  # a keep-alive connection the server had closed: retry once on a fresh one
                raise TransportError(f"{request.method} {request.path}: connection lost: {error}") from error
            except (OSError, http.client.HTTPException) as error:  # refused, timeout, protocol errors
                self.close()
                if isinstance(error, socket.timeout):
                    raise TransportError(
                        f"{request.method} {request.path}: no answer within {self._timeout}s", timed_out=True
                    ) from error
                raise TransportError(f"{request.method} {request.path}: {error}") from error
            if response.will_close:
                self.close()
            headers = {name.lower(): value for name, value in response.getheaders()}
            return HttpResponse(status=response.status, headers=headers, raw=raw, method=request.method)

    def call(self, method: str, path: str, body: Any = None) -> HttpResponse:
        """Convenience for the runner's own housekeeping requests (JSON bodies)."""
        payload = None if body is None else json.dumps(body).encode("utf-8")
        headers = {"Content-Type": "application/json"} if payload is not None else {}
        return self.send(HttpRequest(method=method, path=path, body=payload, headers=headers))
