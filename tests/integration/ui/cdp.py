"""Just enough of the Chrome DevTools Protocol to load a page and collect its complaints.

Why CDP rather than scanning `--enable-logging` output: console messages, uncaught
exceptions, CSP violations and every network request arrive as structured events, and
the screenshot comes from the same launch. The websocket client is the few dozen lines
RFC 6455 needs for a local, unmasked-server, text-frame conversation.
"""

from __future__ import annotations

import base64
import json
import os
import re
import socket
import struct
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--remote-debugging-port=0",
)


class WebSocket:
    def __init__(self, url: str, timeout: float = 30) -> None:
        match = re.match(r"ws://([^/:]+):(\d+)(/.*)", url)
        assert match, url
        host, port, path = match.group(1), int(match.group(2)), match.group(3)
        self.sock = socket.create_connection((host, port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (
                f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        response = b""
        while b"\r\n\r\n" not in response:
            response += self.sock.recv(4096)
        assert response.startswith(b"HTTP/1.1 101"), response[:200]
        self.buffer = response.split(b"\r\n\r\n", 1)[1]

    def send(self, text: str) -> None:
        payload = text.encode()
        mask = os.urandom(4)
        header = bytes([0x81])
        if len(payload) < 126:
            header += bytes([0x80 | len(payload)])
        elif len(payload) < 65536:
            header += bytes([0x80 | 126]) + struct.pack(">H", len(payload))
        else:
            header += bytes([0x80 | 127]) + struct.pack(">Q", len(payload))
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def receive(self) -> str:
        message = b""
        while True:
            first, length = self._read(2)
            length &= 0x7F
            if length == 126:
                (length,) = struct.unpack(">H", self._read(2))
            elif length == 127:
                (length,) = struct.unpack(">Q", self._read(8))
            message += self._read(length)
            if first & 0x80:
                return message.decode()

    def _read(self, count: int) -> bytes:
        while len(self.buffer) < count:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise ConnectionError("DevTools closed the connection")
            self.buffer += chunk
        data, self.buffer = self.buffer[:count], self.buffer[count:]
        return data

    def close(self) -> None:
        self.sock.close()


@dataclass
class PageLoad:
    console: list[dict[str, Any]] = field(default_factory=list)  # console API calls
    exceptions: list[dict[str, Any]] = field(default_factory=list)
    log_entries: list[dict[str, Any]] = field(default_factory=list)  # CSP, network errors
    requests: list[str] = field(default_factory=list)
    screenshot: bytes = b""
    title: str = ""

    @property
    def errors(self) -> list[str]:
        found = [json.dumps(c) for c in self.console if c.get("type") in ("error", "assert")]
        found += [json.dumps(e) for e in self.exceptions]
        found += [json.dumps(e) for e in self.log_entries if e.get("level") in ("error", "warning")]
        return found


def load_page(
    chromium: str, page: Path, profile: Path, *, width: int = 1280, height: int = 2000
) -> PageLoad:
    """Open `page` in headless Chromium, wait for load, screenshot, collect every event."""
    proc = subprocess.Popen(
        [chromium, *FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        port = _devtools_port(proc)
        targets = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list").read())
        target = next(t for t in targets if t.get("type") == "page")
        return _drive(WebSocket(target["webSocketDebuggerUrl"]), page, width, height)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        if proc.stderr is not None:
            proc.stderr.close()


def _devtools_port(proc: subprocess.Popen[str]) -> int:
    assert proc.stderr is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line and proc.poll() is not None:
            raise RuntimeError(f"chromium exited with {proc.returncode}")
        match = re.search(r"DevTools listening on ws://127\.0\.0\.1:(\d+)/", line)
        if match:
            return int(match.group(1))
    raise TimeoutError("chromium did not open its DevTools port")


def _drive(ws: WebSocket, page: Path, width: int, height: int) -> PageLoad:
    result = PageLoad()
    counter = iter(range(1, 1_000_000))

    def call(method: str, **params: Any) -> dict[str, Any]:
        ident = next(counter)
        ws.send(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            message = json.loads(ws.receive())
            if message.get("id") == ident:
                assert "error" not in message, message
                return dict(message.get("result", {}))
            _event(result, message)

    try:
        for domain in ("Page", "Runtime", "Log", "Network"):
            call(f"{domain}.enable")
        call(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )
        call("Page.navigate", url=page.resolve().as_uri())
        deadline = time.monotonic() + 30
        loaded = False
        while not loaded and time.monotonic() < deadline:
            message = json.loads(ws.receive())
            loaded = message.get("method") == "Page.loadEventFired"
            _event(result, message)
        assert loaded, "the page never fired its load event"
        evaluated = call("Runtime.evaluate", expression="document.title", returnByValue=True)
        result.title = str(evaluated.get("result", {}).get("value", ""))
        shot = call("Page.captureScreenshot", format="png")
        result.screenshot = base64.b64decode(shot["data"])
    finally:
        ws.close()
    return result


def _event(result: PageLoad, message: dict[str, Any]) -> None:
    method, params = message.get("method"), message.get("params", {})
    if method == "Runtime.consoleAPICalled":
        result.console.append({"type": params.get("type"), "args": params.get("args")})
    elif method == "Runtime.exceptionThrown":
        result.exceptions.append(params.get("exceptionDetails", {}))
    elif method == "Log.entryAdded":
        result.log_entries.append(params.get("entry", {}))
    elif method == "Network.requestWillBeSent":
        result.requests.append(str(params.get("request", {}).get("url", "")))
