"""A real HTTP server on 127.0.0.1 for the fetch tests: it serves what a test puts in its
`routes`, and can misbehave on purpose (cut a body short, never answer, answer 404)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Server:
    """`routes[path] = ("ok", body) | ("short", body) | ("hang", b"")`; other paths get 404.
    `hits` lists the paths asked for, in order."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[str, bytes]] = {}
        self.hits: list[str] = []
        self.stop = threading.Event()
        self.url = ""

    def put(self, path: str, body: bytes, how: str = "ok") -> str:
        self.routes["/" + path.lstrip("/")] = (how, body)
        return f"{self.url}/{path.lstrip('/')}"


def _handler(server: Server):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # quiet
            pass

        def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
            path = self.path.split("?")[0]
            server.hits.append(path)
            how, body = server.routes.get(path, ("missing", b""))
            if how == "hang":
                server.stop.wait(120)  # never answers while the test runs
                return
            if how == "missing":
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if how == "short":  # promise the whole body, send half, close
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(body)

        def do_POST(self) -> None:  # noqa: N802 (the same routes; the body is read first)
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.do_GET()

    return Handler


@contextmanager
def http_server() -> Iterator[Server]:
    server = Server()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(server))
    httpd.daemon_threads = True
    server.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stop.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)
