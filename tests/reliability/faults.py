"""A tiny loopback HTTP server that plays a broken LLM server (hang, garbage, empty, drop the
connection, down) or forwards to a real one ("proxy"), switchable while a turn runs."""

from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal

Mode = Literal["proxy", "hang", "garbage", "empty", "empty_body", "drop", "http500"]


class FaultyLLM:
    """OpenAI-shaped server on 127.0.0.1; ``mode`` picks the fault (see module doc). ``stop()`` /
    ``start()`` take it down and bring it back on the SAME port (a restart)."""

    def __init__(self, mode: Mode = "hang", upstream: str | None = None, port: int = 0) -> None:
        self.mode: Mode = mode
        root = upstream.rstrip("/") if upstream else None  # forwarded paths carry their own /v1
        self.upstream = root[: -len("/v1")] if root and root.endswith("/v1") else root
        self.requests = 0
        self._release = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self.port = port
        self.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> None:
        """(Re)start listening on ``self.port`` (a free one the first time)."""
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # quiet
                pass

            def _body(self) -> bytes:
                n = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(n) if n else b""

            def _send(self, code: int, body: bytes, ctype: str = "application/json") -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _handle(self) -> None:
                body = self._body()
                owner.requests += 1
                mode = owner.mode
                if mode == "hang":
                    owner._release.wait(60)
                    self.close_connection = True
                    return
                if mode == "drop":  # the server dies after reading the request
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if mode == "garbage":
                    return self._send(200, b'{"choices": [ {"logprobs": nul')
                if mode == "empty":
                    return self._send(200, b"{}")
                if mode == "empty_body":
                    return self._send(200, b"")
                if mode == "http500":
                    return self._send(500, b'{"error": "engine dead"}')
                import httpx

                assert owner.upstream, "proxy mode needs an upstream"
                resp = httpx.request(self.command, owner.upstream + self.path, content=body or None,
                                     headers={"Content-Type": "application/json"}, timeout=120)
                self._send(resp.status_code, resp.content, resp.headers.get("content-type", "application/json"))

            do_GET = do_POST = _handle  # noqa: N815

        class Server(ThreadingHTTPServer):
            allow_reuse_address = True
            daemon_threads = True

        self._release.clear()
        for _ in range(50):  # the old socket may linger a moment after a stop
            try:
                self._server = Server(("127.0.0.1", self.port), Handler)
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise RuntimeError(f"port {self.port} did not free up")
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, name="faulty-llm", daemon=True).start()

    def stop(self) -> None:
        """Go down: refuse connections (hanging requests are released)."""
        self._release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FaultyLLM:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
