"""The HTTPS upstream of the tests: httpbin, plus routes httpbin lacks."""

from __future__ import annotations

import gzip
import io

from httpbin import app as httpbin_app

_BOMB_CACHE: dict[int, bytes] = {}


def _bomb(megabytes: int) -> bytes:
    if megabytes not in _BOMB_CACHE:
        buffer = io.BytesIO()
        with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=9) as handle:
            chunk = b"\0" * (1024 * 1024)
            for _ in range(megabytes):
                handle.write(chunk)
        _BOMB_CACHE[megabytes] = buffer.getvalue()
    return _BOMB_CACHE[megabytes]


def app(environ, start_response):
    path = environ.get("PATH_INFO", "")
    if path == "/_test/bomb":
        query = dict(
            p.split("=", 1) for p in environ.get("QUERY_STRING", "").split("&") if "=" in p
        )
        body = _bomb(int(query.get("mb", "50")))
        start_response(
            "200 OK",
            [
                ("Content-Type", "application/json"),
                ("Content-Encoding", "gzip"),
                ("Content-Length", str(len(body))),
            ],
        )
        return [body]
    if path == "/_test/rate-limited":
        seconds = environ.get("QUERY_STRING", "retry_after=1").split("=", 1)[1]
        start_response("429 Too Many Requests", [("Retry-After", seconds), ("Content-Length", "0")])
        return [b""]
    if path == "/_test/big":
        size = int(environ.get("QUERY_STRING", "size=0").split("=", 1)[1])
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return iter([b"x" * 65536] * (size // 65536))
    return httpbin_app(environ, start_response)
