"""The soak is not run by the suite; its mix script, what it reads of wrk's output and the
receiver's count it relies on are, so that they cannot rot."""

from __future__ import annotations

import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

from werkzeug.test import Client

from bench.soak import CONNECTIONS, KINDS, MIX_LUA, errors_of, read_log, wrk_mix
from tests.support import upstream_app

WEIGHTS = {"hit": 0.6, "miss": 0.1, "proxy": 0.2, "inbound": 0.1}


def test_the_webhook_receiver_counts_requests_and_distinct_events():
    client = Client(upstream_app.app)
    for event in ("a", "a", "b"):  # "a" delivered twice (at least once)
        client.post("/_test/hooks/soak-count-test", data=b"{}", headers={"webhook-id": event})

    answer = client.get("/_test/hooks/soak-count-test/count")

    assert answer.get_json() == {"received": 3, "distinct": 2}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    seen: list[tuple[str, str]]


class _Handler(BaseHTTPRequestHandler):
    """Answers like Plugboard would, except the proxy: 429 (a rate limit, an error to the soak)."""

    def do_GET(self) -> None:
        self.server.seen.append(("GET", self.path))
        self._answer(429 if self.path.startswith("/api/v1/proxy/") else 200)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.seen.append(("POST", self.path))
        self._answer(202)

    def _answer(self, status: int) -> None:
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


def test_the_mix_sends_each_kind_by_its_weight_and_counts_every_error_by_kind(tmp_path):
    server = _Server(("127.0.0.1", 0), _Handler)
    server.seen = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    (tmp_path / "body.json").write_bytes(b'{"hello": "world"}')
    script = tmp_path / "mix.lua"
    script.write_text(MIX_LUA)
    try:
        figures = wrk_mix(f"http://127.0.0.1:{server.server_address[1]}", script,
                          ["pb_key", "upstream", "tok", str(tmp_path / "body.json"), "7", "1"],
                          seconds=1)  # fmt: skip
    finally:
        server.shutdown()
        server.server_close()

    kinds = figures["kinds"]
    sent = sum(kinds[kind]["sent"] for kind in KINDS)
    assert sent >= 300, figures
    for kind, weight in WEIGHTS.items():  # each connection stops mid-cycle: a slot or so off
        assert abs(kinds[kind]["sent"] - weight * sent) <= CONNECTIONS * 2, (kind, kinds)
    assert kinds["proxy"]["good"] == 0
    assert figures["codes"] == {"proxy:429": kinds["proxy"]["bad"]}
    for kind in ("hit", "miss", "inbound"):
        assert kinds[kind]["bad"] == 0 and kinds[kind]["good"] >= kinds[kind]["sent"] - CONNECTIONS
    assert errors_of(figures) == figures["errors"] == kinds["proxy"]["bad"] > 0
    paths = Counter(urlsplit(path).path for _, path in server.seen)
    misses = [path for _, path in server.seen if "v=7-" in path]
    assert len(misses) == len(set(misses)) >= kinds["miss"]["good"]  # a new value each time
    assert set(paths) == {
        "/api/v1/items/projects/options/", "/api/v1/items/many/options/",
        "/api/v1/items/varying/options/", "/api/v1/proxy/upstream/_test/data/projects",
        "/api/v1/proxy/upstream/_test/data/many", "/api/v1/inbound/tok",
    }  # fmt: skip
    assert {method for method, path in server.seen if path == "/api/v1/inbound/tok"} == {"POST"}


def test_the_log_reader_counts_levels_and_keeps_what_is_not_json(tmp_path: Path):
    log = tmp_path / "web.log"
    log.write_text(
        '{"level": "WARNING", "message": "slow"}\n'
        '{"level": "ERROR", "message": "boom"}\n'
        "Traceback (most recent call last):\n\n"
    )

    found = read_log(log)

    assert found["levels"] == {"WARNING": 1, "ERROR": 1}
    assert found["serious"] == ['{"level": "ERROR", "message": "boom"}']
    assert found["other"] == ["Traceback (most recent call last):"]
