"""Shared set-up of the benchmarks: Django, a test CA and the HTTPS upstream on loopback."""

from __future__ import annotations

import logging
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import django
import trustme


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    django.setup()
    # Per-call INFO lines would measure the terminal, not the code.
    logging.getLogger("plugboard").setLevel(logging.WARNING)


def make_pki(folder: Path):
    from tests.support.tls import SERVER_NAMES, TestPKI

    ca = trustme.CA()
    server = ca.issue_cert(*SERVER_NAMES)
    pki = TestPKI(folder / "ca.pem", folder / "server.pem", folder / "server.key")
    ca.cert_pem.write_to_path(str(pki.ca_pem))
    server.cert_chain_pems[0].write_to_path(str(pki.cert_pem))
    server.private_key_pem.write_to_path(str(pki.key_pem))
    return pki


class UpstreamForBench:
    """The test upstream (httpbin over TLS on 127.0.0.2), started and stopped by `with`."""

    def __enter__(self):
        from tests.support.servers import UPSTREAM_IP, gunicorn

        self._tmp = tempfile.TemporaryDirectory()
        folder = Path(self._tmp.name)
        self.pki = make_pki(folder)
        self.server = gunicorn("tests.support.upstream_app:app", UPSTREAM_IP, self.pki,
                               folder / "upstream.log")  # fmt: skip
        self.base = f"https://{UPSTREAM_IP}:{self.server.port}"
        return self

    def __exit__(self, *exc):
        self.server.stop()
        self._tmp.cleanup()


def timed(fn: Callable[[], object], repeat: int) -> float:
    started = time.perf_counter()
    for _ in range(repeat):
        fn()
    return time.perf_counter() - started


def median_of(runs: int, fn: Callable[[], float]) -> float:
    return statistics.median(fn() for _ in range(runs))


def verdict(value: float, target: float, lower_is_better: bool = True) -> str:
    ok = value <= target if lower_is_better else value >= target
    return "meets target" if ok else "MISSES target"
