"""The soak's network link: traffic passes, a cut refuses new connections and drops open ones while the
server keeps its state, and restoring lets the same clients through again."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from soak.link import Link


@pytest.fixture
def server():
    hits = []

    class Counter(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            hits.append(self.path)
            body = str(len(hits)).encode()
            self.send_response(200)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Counter)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield httpd.server_address[1]
    httpd.shutdown()


def test_a_cut_link_refuses_and_a_restored_one_reaches_the_same_server(server):
    link = Link(server)
    try:
        session = requests.Session()
        assert session.get(f"{link.url}/a", timeout=5).text == "1"
        link.cut()
        with pytest.raises(requests.ConnectionError):
            session.get(f"{link.url}/b", timeout=5)
        link.restore()
        assert session.get(f"{link.url}/c", timeout=5).text == "2"  # the server kept its state
    finally:
        link.close()
