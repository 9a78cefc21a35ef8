"""The HTTPS upstream of the tests: httpbin, plus routes httpbin lacks (lists to build options
from, counters of calls, a switch to make answers fail, a gzip bomb...)."""

from __future__ import annotations

import base64
import gzip
import io
import json
import re
import threading
import time
from urllib.parse import parse_qs, quote, quote_plus

from httpbin import app as httpbin_app

_BOMB_CACHE: dict[int, bytes] = {}
_lock = threading.Lock()
_counts: dict[str, int] = {}
_switches: dict[str, str] = {}

PROJECTS = [
    {"key": "PB", "name": "Plugboard", "lead": {"name": "Ann"}, "created": "2024-01-05", "issues": 12, "active": True},
    {"key": "OPS", "name": "Operations", "lead": {"name": "Bob"}, "created": "2023-06-30", "issues": 3, "active": True},
    {"key": "WEB", "name": "Website", "lead": {"name": "Cleo"}, "created": "2024-11-20T09:30:00Z", "issues": 40, "active": False},
]  # fmt: skip
ISSUES = {
    "PB": [{"key": f"PB-{n}", "fields": {"summary": f"Plugboard task {n}", "priority": n % 3}} for n in range(1, 6)],
    "OPS": [{"key": "OPS-1", "fields": {"summary": "Rotate keys", "priority": 1}}],
    "WEB": [],
}  # fmt: skip


def _bomb(megabytes: int) -> bytes:
    if megabytes not in _BOMB_CACHE:
        buffer = io.BytesIO()
        with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=9) as handle:
            chunk = b"\0" * (1024 * 1024)
            for _ in range(megabytes):
                handle.write(chunk)
        _BOMB_CACHE[megabytes] = buffer.getvalue()
    return _BOMB_CACHE[megabytes]


def _json(start_response, document, status="200 OK", headers=()):
    body = json.dumps(document).encode()
    start_response(
        status, [("Content-Type", "application/json"), ("Content-Length", str(len(body))), *headers]
    )
    return [body]


def _count(name: str) -> None:
    with _lock:
        _counts[name] = _counts.get(name, 0) + 1


def _credential_echoes(environ) -> list[dict]:
    """The credentials a request carried, echoed back in the encodings APIs commonly use."""
    found = {"authorization": environ.get("HTTP_AUTHORIZATION", ""),
             "api_key": environ.get("HTTP_X_API_KEY", "")}  # fmt: skip
    if found["authorization"].startswith("Basic "):
        pair = base64.b64decode(found["authorization"][6:]).decode()
        found["password"] = pair.split(":", 1)[1]
    elements = []
    for name, value in found.items():
        if not value:
            continue
        forms = {
            "raw": value,
            "percent": quote(value, safe=""),
            "percent-lower": re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), quote(value, safe="")),
            "form": quote_plus(value),
            "json": json.dumps(value),
            "base64": base64.b64encode(value.encode()).decode(),
        }  # fmt: skip
        elements += [{"id": f"{name}-{form}", "echo": echo} for form, echo in forms.items()]
    return elements


def app(environ, start_response):
    path = environ.get("PATH_INFO", "")
    raw_query = environ.get("QUERY_STRING", "")
    query = {k: v[0] for k, v in parse_qs(raw_query, keep_blank_values=True).items()}
    if path == "/_test/bomb":
        body = _bomb(int(query.get("mb", "50")))
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Encoding", "gzip"),
                                  ("Content-Length", str(len(body)))])  # fmt: skip
        return [body]
    if path == "/_test/rate-limited":
        start_response("429 Too Many Requests", [("Retry-After", query.get("retry_after", "1")),
                                                 ("Content-Length", "0")])  # fmt: skip
        return [b""]
    if path == "/_test/big":
        size = int(query.get("size", "0"))
        headers = [("Content-Type", "application/octet-stream")]
        if query.get("announce"):
            headers.append(("Content-Length", str(size // 65536 * 65536)))
        start_response("200 OK", headers)
        return iter([b"x" * 65536] * (size // 65536))
    if path.startswith("/_test/raw"):
        # Exactly what arrived: method, path and query as sent, headers, body (base64).
        _count(path)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else environ["wsgi.input"].read()
        if query.get("mirror"):
            start_response(query.get("status", "200") + " Mirror", [
                ("Content-Type", environ.get("CONTENT_TYPE") or "application/octet-stream"),
                ("Content-Length", str(len(body))),
            ])  # fmt: skip
            return [body]
        headers = {k[5:].replace("_", "-").title(): v for k, v in environ.items()
                   if k.startswith("HTTP_")}  # fmt: skip
        for name in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            if environ.get(name):
                headers[name.replace("_", "-").title()] = environ[name]
        return _json(start_response, {
            "method": environ["REQUEST_METHOD"], "raw_uri": environ.get("RAW_URI", ""),
            "headers": headers, "body_b64": base64.b64encode(body).decode(),
        })  # fmt: skip
    if path == "/_test/counts":
        with _lock:
            if query.get("reset"):
                _counts.clear()
            return _json(start_response, dict(_counts))
    if path == "/_test/switch":
        with _lock:
            _switches[query["name"]] = query.get("value", "")
        return _json(start_response, {"ok": True})
    if path.startswith("/_test/data/"):
        # Every call here is counted under its path and query, and may be made to fail.
        for name in {path, f"{path}?{raw_query}" if raw_query else path}:
            _count(name)
        failure = _switches.get("fail", "")
        if failure:
            if failure == "slow":
                time.sleep(30)
            return _json(start_response, {"error": "down"}, status=f"{failure} Failing")
        if query.get("delay"):
            time.sleep(float(query["delay"]))
        name = path[len("/_test/data/") :]
        if name == "projects":
            return _json(start_response, PROJECTS)
        if name == "issues":
            return _json(
                start_response, {"data": {"items": ISSUES.get(query.get("project", ""), [])}}
            )
        if name == "echo-credential":
            return _json(start_response, _credential_echoes(environ))
        if name.startswith("echo") or name.endswith("/echo"):
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length).decode() if length else ""
            return _json(start_response, [{
                "raw_path": environ.get("RAW_URI", path), "path": path, "query": raw_query,
                "args": parse_qs(raw_query, keep_blank_values=True), "body": body,
                "json": json.loads(body) if body else None,
            }])  # fmt: skip
        if name == "not-a-list":
            return _json(start_response, {"data": {"items": "nope"}})
        if name == "many":
            count = int(query.get("n", "100"))
            return _json(start_response, [{"id": i, "name": f"Option {i}"} for i in range(count)])
        if name == "status":
            return _json(
                start_response, {"error": "x"}, status=f"{query.get('code', '500')} Status"
            )
        if name == "headers":
            return _json(start_response, [{"authorization": environ.get("HTTP_AUTHORIZATION", "")}])
    return httpbin_app(environ, start_response)
