"""Start and stop a tern binary for a test run (``--binary`` mode).

tern is started in-memory (``--ephemeral``) on a free port and is ready once it logs a JSON line with
``"message":"started"``. All of its output goes to a log file (and the last lines are kept in memory) so
a crash can be reported with its cause. The runner restarts a crashed server so that one crashing test
does not turn every later test into a failure.
"""

from __future__ import annotations

import collections
import os
import re
import socket
import subprocess
import threading
import time
from typing import IO

STARTED = re.compile(r'"message"\s*:\s*"started"')
TAIL_LINES = 200


class ServerStartError(Exception):
    """The binary exited or stayed silent instead of reporting that it started."""


def free_port() -> int:
    """A TCP port that was free a moment ago (bind to port 0, read it, release it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class TernServer:
    """One tern process; ``start`` blocks until it reports ``started``."""

    def __init__(self, binary: str, extra_args: list[str] | None = None, log_path: str | None = None) -> None:
        if not os.access(binary, os.X_OK):
            raise ServerStartError(f"{binary} is not an executable file")
        self.binary = binary
        self.extra_args = list(extra_args or [])
        self.log_path = log_path
        self.port = 0
        self.starts = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
        self._started = threading.Event()
        self._reader: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        return [self.binary, "--ephemeral", "-E", f"http.port={self.port}", *self.extra_args]

    def start(self, timeout: float = 30.0) -> None:
        self.port = free_port()
        self._started.clear()
        self._tail.clear()
        log = open(self.log_path, "ab") if self.log_path else None  # noqa: SIM115 - closed by the reader
        self._process = subprocess.Popen(
            self.command(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        self.starts += 1
        self._reader = threading.Thread(target=self._read_output, args=(self._process.stdout, log), daemon=True)
        self._reader.start()
        deadline = time.monotonic() + timeout
        while not self._started.wait(0.1):
            if self._process.poll() is not None:
                raise ServerStartError(
                    f"{self.binary} exited with code {self._process.returncode} before starting:\n{self.tail()}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise ServerStartError(f'{self.binary} did not log "started" within {timeout:.0f}s:\n{self.tail()}')

    def _read_output(self, stream: IO[bytes], log: IO[bytes] | None) -> None:
        try:
            for raw_line in iter(stream.readline, b""):
                if log is not None:
                    log.write(raw_line)
                    log.flush()
                line = raw_line.decode("utf-8", "replace").rstrip("\n")
                self._tail.append(line)
                if STARTED.search(line):
                    self._started.set()
        finally:
            if log is not None:
                log.close()

    def alive(self, grace: float = 0.5) -> bool:
        """Whether the process still runs; waits ``grace`` seconds for one that is just exiting (a
        connection reset can arrive a moment before the process is reaped)."""
        if self._process is None:
            return False
        try:
            self._process.wait(grace)
        except subprocess.TimeoutExpired:
            return True
        return False

    def exit_code(self) -> int | None:
        return None if self._process is None else self._process.poll()

    def tail(self, lines: int = 40) -> str:
        return "\n".join(list(self._tail)[-lines:])

    def stop(self, grace: float = 10.0) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(grace)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._reader is not None:
            self._reader.join(2.0)
