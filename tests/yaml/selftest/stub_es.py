"""A tiny stand-in for tern, enough for the runner's end-to-end self-tests.

It answers ``info``, ``ping`` and the runner's housekeeping requests. Run as a script it behaves like the
tern binary's command line (``--ephemeral -E http.port=N``, a JSON "started" log line), so ``--binary``
mode, crash detection and restarts can be tested before tern exists. Environment knobs:
``STUB_NO_LUCENE=1`` drops ``version.lucene_version`` (a failing test); ``STUB_CRASH_FILE=path`` makes the
first ``GET /`` after the server started exit the process if that file does not exist yet (then creates it);
``STUB_HANG_FILE=path`` makes the first ``HEAD /`` hang the same way.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def info_body() -> dict[str, object]:
    version: dict[str, object] = {"number": "8.15.0", "build_flavor": "default"}
    if not os.environ.get("STUB_NO_LUCENE"):
        version["lucene_version"] = "9.11.1"
    return {
        "name": "stub",
        "cluster_name": "stub",
        "cluster_uuid": "u" * 22,
        "version": version,
        "tagline": "You Know, for Search",
    }


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    wbufsize = 65536  # one write per response (no Nagle/delayed-ACK stalls); flushed per request
    info_calls = 0

    def log_message(self, *args: object) -> None:  # keep test output clean
        pass

    def _send(self, status: int, body: object | None) -> None:
        payload = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("X-Elastic-Product", "Elasticsearch")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def _drain(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)

    def do_HEAD(self) -> None:
        hang_file = os.environ.get("STUB_HANG_FILE")
        if hang_file and not os.path.exists(hang_file):
            open(hang_file, "w").close()
            time.sleep(30)
        self._send(200 if self.path == "/" else 404, None)

    def do_GET(self) -> None:
        self._drain()
        path = self.path.split("?")[0]
        if path == "/":
            type(self).info_calls += 1
            crash_file = os.environ.get("STUB_CRASH_FILE")
            if crash_file and type(self).info_calls > 1 and not os.path.exists(crash_file):
                open(crash_file, "w").close()
                os._exit(3)
            self._send(200, info_body())
        elif path == "/_cluster/settings":
            self._send(200, {"persistent": {}, "transient": {}})
        else:
            self._not_found()

    def do_DELETE(self) -> None:
        self._drain()
        if self.path.startswith("/*"):
            self._send(200, {"acknowledged": True})
        else:
            self._not_found()

    def do_PUT(self) -> None:
        self._drain()
        self._not_found()

    do_POST = do_PUT

    def _not_found(self) -> None:
        error = {"type": "resource_not_found_exception", "reason": f"no handler for {self.path}"}
        self._send(404, {"error": {"root_cause": [error], **error}, "status": 404})


def serve(port: int) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main(argv: list[str]) -> None:
    port = 9200
    for index, arg in enumerate(argv):
        if arg == "-E" and argv[index + 1].startswith("http.port="):
            port = int(argv[index + 1].split("=", 1)[1])
    server = serve(port)
    print(json.dumps({"level": "INFO", "message": "started", "port": port}), flush=True)
    try:
        threading.Event().wait()
    finally:
        server.shutdown()


if __name__ == "__main__":
    main(sys.argv[1:])
