"""A reference transcript collector: the HTTP sink's counterpart (contract: docs/sinks.md).

Stores each segment as `ROOT/<session_id>/<NNNNNN>.jsonl`, write-once (created with a
hard link, which fails if the name exists, then made read-only). It checks every segment
against its own lines and against the segment before it, so it only ever holds a chained
prefix of a transcript; a repeated identical segment is a no-op (200), a different one
under a stored number is refused (409). Run it with `python -m hgate.audit.collector`.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import signal
import sys
import tempfile
import threading
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType
from typing import Any

from hgate.audit import format as fmt
from hgate.audit.segments import Segment, segment_name, segment_number

__all__ = ["CollectorServer", "main"]

MAX_BODY = 64 * 1024 * 1024
POST_PATH = "/v1/segments"
SESSIONS_PATH = "/v1/sessions/"


class CollectorServer(ThreadingHTTPServer):
    """`POST /v1/segments`, `GET /v1/sessions/<id>`, `GET /v1/sessions/<id>/segments/<n>`."""

    daemon_threads = True

    def __init__(self, root: Path, token: str, address: tuple[str, int]) -> None:
        if not token:
            raise ValueError("the collector needs a non-empty bearer token")
        self.root = root
        self.token = token
        self.lock = threading.Lock()
        root.mkdir(parents=True, exist_ok=True)
        super().__init__(address, _Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def store(self, segment: Segment) -> tuple[int, str]:
        """(HTTP status, message) for one checked segment."""
        directory = self.root / segment.session_id
        path = directory / segment.name
        with self.lock:
            if path.exists():
                if path.read_bytes() == segment.data:
                    return 200, "already stored"
                return 409, f"segment {segment.number} is already stored with other content"
            if segment.number == 1:
                if segment.prev != fmt.GENESIS_PREV or segment.first_seq != 1:
                    return 409, "segment 1 must start the transcript"
            else:
                before = directory / segment_name(segment.number - 1)
                if not before.exists():
                    return 409, f"segment {segment.number - 1} has not been stored yet"
                last = before.read_bytes().split(b"\n")[-2] + b"\n"
                if hashlib.sha256(last).hexdigest() != segment.prev:
                    return 409, f"segment {segment.number} does not chain to the one before"
                if _sealed(directory, _numbers(directory)):
                    return 409, "the transcript is already sealed"
            directory.mkdir(exist_ok=True)
            _write_once(path, segment.data)
        return 201, "stored"

    def listing(self, session_id: str) -> dict[str, Any] | None:
        directory = self.root / session_id
        if not fmt.SESSION_ID_RE.match(session_id) or not directory.is_dir():
            return None
        numbers = _numbers(directory)
        sealed = _sealed(directory, numbers)
        return {"session_id": session_id, "segments": numbers, "sealed": sealed}


def _numbers(directory: Path) -> list[int]:
    """The segments stored, by number: only names the collector itself gives them."""
    numbers = (segment_number(p.name) for p in directory.iterdir())
    return sorted(n for n in numbers if n is not None)


def _sealed(directory: Path, numbers: list[int]) -> bool:
    if not numbers:
        return False
    last = (directory / segment_name(numbers[-1])).read_bytes().split(b"\n")[-2]
    try:
        return fmt.parse_line(last).get("type") == fmt.SEAL
    except fmt.LineError:
        return False


def _write_once(path: Path, data: bytes) -> None:
    """Write a temporary file, fsync, then link it to `path` (fails if the name exists)."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".incoming-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o440)
        os.link(temporary, path)
    finally:
        os.unlink(temporary)


class _Handler(BaseHTTPRequestHandler):
    server: CollectorServer
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        if self.path != POST_PATH:
            return self._answer(404, {"error": f"POST to {POST_PATH}"})
        expected = f"Bearer {self.server.token}".encode()
        given = self.headers.get("Authorization", "").encode()
        if not hmac.compare_digest(given, expected):
            return self._answer(401, {"error": "missing or wrong bearer token"})
        length = int(self.headers.get("Content-Length") or 0)
        if not 0 < length <= MAX_BODY:
            return self._answer(413 if length else 411, {"error": "body size"})
        try:
            body = json.loads(self.rfile.read(length))
            if not isinstance(body, dict):
                raise ValueError("the body is not a JSON object")
            segment = Segment.from_json(body)
        except ValueError as exc:
            return self._answer(400, {"error": str(exc)})
        status, message = self.server.store(segment)
        key = "status" if status < 400 else "error"
        self._answer(status, {key: message, "segment": segment.number})

    def do_GET(self) -> None:
        parts = self.path.removeprefix(SESSIONS_PATH).strip("/").split("/")
        if not self.path.startswith(SESSIONS_PATH) or len(parts) not in (1, 3):
            return self._answer(404, {"error": "not found"})
        listing = self.server.listing(parts[0])
        if listing is None:
            return self._answer(404, {"error": f"no session {parts[0]!r}"})
        if len(parts) == 1:
            return self._answer(200, listing)
        if parts[1] != "segments" or not parts[2].isdigit() or int(parts[2]) < 1:
            return self._answer(404, {"error": "not found"})
        path = self.server.root / parts[0] / segment_name(int(parts[2]))
        if not path.is_file():
            return self._answer(404, {"error": f"no segment {parts[2]}"})
        self._send(200, path.read_bytes(), "application/x-ndjson")

    def _answer(self, status: int, payload: dict[str, Any]) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json")

    def _send(self, status: int, data: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: a collector's access log is the operator's business, not the test's."""


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m hgate.audit.collector --dir DIR [--host H] [--port P] [--token-env NAME]`;
    prints `listening on URL` once ready, serves until SIGTERM or SIGINT."""
    parser = argparse.ArgumentParser(prog="python -m hgate.audit.collector")
    parser.add_argument("--dir", required=True, type=Path, help="where segments are stored")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", default=0, type=int, help="0 picks a free port")
    parser.add_argument("--token-env", default="HGATE_COLLECTOR_TOKEN")
    args = parser.parse_args(argv)
    token = os.environ.get(args.token_env, "")
    if not token:
        print(f"collector: set ${args.token_env} to the bearer token", file=sys.stderr)
        return 2
    server = CollectorServer(args.dir, token, (args.host, args.port))

    def stop(signum: int, frame: FrameType | None) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"listening on {server.url}", flush=True)
    try:
        server.serve_forever(poll_interval=0.1)
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
