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
# Webhook receivers: what each received, and the answers it was told to give (in order).
_hooks: dict[str, list[dict]] = {}
_hook_scripts: dict[str, list[tuple[int, str]]] = {}
_hook_delays: dict[str, float] = {}
# Feeds to poll: the records each serves, and the queries it was asked.
_feeds: dict[str, object] = {}
_feed_queries: dict[str, list[str]] = {}

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


def _read_body(environ) -> bytes:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    return environ["wsgi.input"].read(length) if length else b""


def _hook(environ, start_response, name: str, query: dict):
    """A webhook receiver: ``?script=500,429:3,200`` sets its next answers (status[:Retry-After]),
    ``?delay=S`` holds each request S seconds, ``/received`` lists what arrived, ``/count``
    says how many requests arrived and how many distinct ``webhook-id`` they carried."""
    name, _, action = name.partition("/")
    if action == "received":
        with _lock:
            return _json(start_response, list(_hooks.get(name, [])))
    if action == "count":
        with _lock:
            received = list(_hooks.get(name, []))
        ids = {hook["headers"].get("webhook-id") for hook in received}
        return _json(start_response, {"received": len(received), "distinct": len(ids)})
    if "script" in query or "delay" in query:
        with _lock:
            _hooks[name] = []
            _hook_scripts[name] = [
                (int(part.split(":")[0]), part.partition(":")[2])
                for part in query.get("script", "").split(",")
                if part
            ]
            _hook_delays[name] = float(query.get("delay", "0") or 0)
        return _json(start_response, {"ok": True})
    body = _read_body(environ)
    headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items()
               if k.startswith("HTTP_")}  # fmt: skip
    if environ.get("CONTENT_TYPE"):
        headers["content-type"] = environ["CONTENT_TYPE"]
    delay = _hook_delays.get(name, 0)
    if delay:
        time.sleep(delay)
    with _lock:
        _hooks.setdefault(name, []).append({
            "headers": headers, "body_b64": base64.b64encode(body).decode(), "at": time.time(),
        })  # fmt: skip
        script = _hook_scripts.get(name) or []
        status, retry_after = script.pop(0) if script else (200, "")
    extra = [("Retry-After", retry_after)] if retry_after else []
    return _json(start_response, {"received": True}, status=f"{status} Scripted", headers=extra)


def _feed(environ, start_response, name: str, raw_query: str):
    """A list to poll: POST sets what it serves; GET serves it and notes the query."""
    name, _, action = name.partition("/")
    if action == "queries":
        with _lock:
            return _json(start_response, list(_feed_queries.get(name, [])))
    if environ["REQUEST_METHOD"] == "POST":
        with _lock:
            _feeds[name] = json.loads(_read_body(environ))
            _feed_queries.setdefault(name, [])
        return _json(start_response, {"ok": True})
    with _lock:
        _feed_queries.setdefault(name, []).append(raw_query)
        document = _feeds.get(name, [])
    return _json(start_response, document)


# Record sinks for bulk uploads: what each applied, by idempotency key, and every request.
_sinks: dict[str, dict] = {}


def _sink(environ, start_response, name: str, query: dict):
    """A records API that keeps its answer to an ``Idempotency-Key`` and replays it when the
    key comes again, as Stripe does (only answers the endpoint produced: not 429s or 5xx). A
    row's ``scenario`` column scripts its answer: ``invalid`` (422), ``429-once``, ``500-once``;
    ``?delay=S`` holds each request S seconds; ``/log`` lists what arrived and was applied."""
    name, _, action = name.partition("/")
    with _lock:
        sink = _sinks.setdefault(name, {"requests": [], "applied": [], "answers": {}, "seen": {}})
    if action == "log":
        with _lock:
            return _json(start_response, {"requests": list(sink["requests"]),
                                          "applied": list(sink["applied"])})  # fmt: skip
    body = _read_body(environ)
    key = environ.get("HTTP_IDEMPOTENCY_KEY", "")
    if query.get("delay"):
        time.sleep(float(query["delay"]))
    with _lock:
        sink["requests"].append({"key": key, "method": environ["REQUEST_METHOD"],
                                 "path": environ.get("RAW_URI", environ.get("PATH_INFO", "")),
                                 "content_type": environ.get("CONTENT_TYPE", ""),
                                 "body": body.decode("utf-8", "replace"), "at": time.time()})  # fmt: skip
        if key and key in sink["answers"]:
            status, document = sink["answers"][key]
            return _json(start_response, document, status=status,
                         headers=[("Idempotent-Replayed", "true")])  # fmt: skip
        record = json.loads(body or b"{}")
        scenario = record.get("scenario", "") if isinstance(record, dict) else ""
        seen = sink["seen"][key] = sink["seen"].get(key, 0) + 1
        if scenario == "429-once" and seen == 1:
            return _json(start_response, {"error": "slow down"}, status="429 Too Many Requests",
                         headers=[("Retry-After", "1")])  # fmt: skip
        if scenario == "500-once" and seen == 1:
            return _json(start_response, {"error": "oops"}, status="500 Internal Server Error")
        if scenario == "invalid":
            status, document = "422 Unprocessable Entity", {"error": "email is invalid"}
        elif scenario == "nul":  # a raw NUL byte, as a careless upstream sends in plain text
            body = b"bad value a\x00b"
            start_response("422 Unprocessable Entity", [("Content-Type", "text/plain"),
                                                        ("Content-Length", str(len(body)))])  # fmt: skip
            return [body]
        elif scenario == "echo-password":  # the Basic password, 280 characters in
            auth = environ.get("HTTP_AUTHORIZATION", "")
            password = base64.b64decode(auth[6:]).decode().split(":", 1)[1] if auth else ""
            status, document = "422 Unprocessable Entity", {"error": "x" * 280 + " " + password}
        else:
            sink["applied"].append({"key": key, "record": record})
            status, document = "201 Created", {"id": len(sink["applied"]), "ok": True}
        if key:
            sink["answers"][key] = (status, document)
    return _json(start_response, document, status=status)


# Bench-only records endpoints: each counts what it was sent and keeps nothing else but the
# Idempotency-Keys it saw (the sink above keeps every request, too much for a 100,000-row run).
_accepted: dict[str, dict] = {}


def _accept(environ, start_response, name: str):
    """Answers 201 to a JSON object (422 to anything else) and counts; ``/count`` says how many
    requests came, with how many distinct Idempotency-Keys, and how many were refused."""
    name, _, action = name.partition("/")
    with _lock:
        tally = _accepted.setdefault(name, {"requests": 0, "refused": 0, "keys": set()})
        if action == "count":
            return _json(start_response, {"requests": tally["requests"],
                                          "keys": len(tally["keys"]),
                                          "refused": tally["refused"]})  # fmt: skip
    try:
        record = json.loads(_read_body(environ))
    except ValueError:
        record = None
    with _lock:
        tally["requests"] += 1
        if not isinstance(record, dict):
            tally["refused"] += 1
            return _json(start_response, {"error": "not a JSON object"},
                         status="422 Unprocessable Entity")  # fmt: skip
        tally["keys"].add(environ.get("HTTP_IDEMPOTENCY_KEY", ""))
        number = len(tally["keys"])
    return _json(start_response, {"id": number, "ok": True}, status="201 Created")


PAGE_RECORDS: dict[int, list[dict]] = {}


def _records(n: int) -> list[dict]:
    if n not in PAGE_RECORDS:
        PAGE_RECORDS[n] = [
            {"id": i, "name": f"Record {i}", "nested": {"value": i * 2, "deep": {"x": "y"}},
             "tags": ["a", "b"], "text": 'comma, "quote" and é', "empty": None}
            for i in range(1, n + 1)
        ]  # fmt: skip
    return PAGE_RECORDS[n]


def _pages(environ, start_response, style: str, query: dict):
    """A list of ``n`` records read page by page in one pagination style (``none``, ``offset``
    with offset/limit, ``page`` with page/per_page, ``cursor`` with cursor/limit and the next
    cursor at ``next.cursor``, ``link`` with a Link header); every call is counted."""
    _count(f"/_test/pages/{style}")
    records = _records(int(query.get("n", "250")))
    if style == "none":
        return _json(start_response, {"records": records})
    if style == "offset":
        offset, limit = int(query.get("offset", "0")), int(query.get("limit", "50"))
        return _json(start_response, {"records": records[offset : offset + limit]})
    if style in ("page", "link"):
        page, size = int(query.get("page", "1")), int(query.get("per_page", "50"))
        chunk = records[(page - 1) * size : page * size]
        headers = []
        if style == "link" and query.get("self_link"):
            headers.append(("Link", f'<{environ.get("RAW_URI", "")}>; rel="next"'))
        elif style == "link" and page * size < len(records):
            host = environ.get("HTTP_HOST", "")
            target = query.get("next_host") or host
            headers.append(("Link", f'<https://{target}/_test/pages/link?n={len(records)}&'
                                    f'page={page + 1}&per_page={size}>; rel="next"'))  # fmt: skip
        return _json(start_response, {"records": chunk}, headers=headers)
    if style == "cursor":
        start = int(base64.b64decode(query["cursor"]).decode()) if query.get("cursor") else 0
        limit = int(query.get("limit", "50"))
        chunk = records[start : start + limit]
        following = start + limit
        token = (
            base64.b64encode(str(following).encode()).decode() if following < len(records) else None
        )
        return _json(start_response, {"records": chunk, "next": {"cursor": token}})
    return _json(start_response, {"error": "no such style"}, status="404 Not Found")


def app(environ, start_response):
    path = environ.get("PATH_INFO", "")
    raw_query = environ.get("QUERY_STRING", "")
    query = {k: v[0] for k, v in parse_qs(raw_query, keep_blank_values=True).items()}
    if path.startswith("/_test/hooks/"):
        return _hook(environ, start_response, path[len("/_test/hooks/") :], query)
    if path.startswith("/_test/records/"):
        return _sink(environ, start_response, path[len("/_test/records/") :], query)
    if path.startswith("/_test/accept/"):
        return _accept(environ, start_response, path[len("/_test/accept/") :])
    if path.startswith("/_test/pages/"):
        return _pages(environ, start_response, path[len("/_test/pages/") :], query)
    if path.startswith("/_test/feed/"):
        return _feed(environ, start_response, path[len("/_test/feed/") :], raw_query)
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
