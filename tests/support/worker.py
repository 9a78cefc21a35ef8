"""A real Celery worker process for the tests that need one (``celery_worker`` fixture).

It runs with the test settings against this run's test database and queue, and is stopped at the
end of the session.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT = 60


def worker_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": f"postgres://{auth}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}",
        "PLUGBOARD_TEST_TAG": settings.RUN_TAG,
        "PYTHONUNBUFFERED": "1",
    }
    env.update(extra or {})
    return env


class WorkerProcess:
    def __init__(
        self,
        env: dict[str, str],
        concurrency: int = 2,
        *,
        queue: str | None = None,
        beat_schedule: Path | None = None,
    ) -> None:
        self.output: deque[str] = deque(maxlen=2000)
        self._ready = threading.Event()
        args = [
            sys.executable, "-m", "celery", "-A", "config", "worker",
            "-Q", queue or settings.CELERY_TASK_DEFAULT_QUEUE,
            f"--concurrency={concurrency}", "--loglevel=INFO",
            "--without-gossip", "--without-mingle", "--without-heartbeat",
            "-n", f"test-{settings.RUN_TAG}-{os.getpid()}-{queue or 'default'}@%h",
        ]  # fmt: skip
        if beat_schedule is not None:  # beat inside the worker, with its own schedule file
            args += ["--beat", "--schedule", str(beat_schedule)]
        # Its own process group, so that kill() takes the pool's children too.
        self.proc = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True,
        )  # fmt: skip
        threading.Thread(target=self._pump, daemon=True).start()
        if not self._ready.wait(READY_TIMEOUT):
            self.stop()
            raise RuntimeError("Celery worker did not start:\n" + self.log())

    def kill(self) -> None:
        """SIGKILL the worker and its pool at once: nothing is acknowledged or cleaned up."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.output.append(line)
            if " ready." in line:
                self._ready.set()

    def log(self) -> str:
        return "".join(self.output)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
        with contextlib.suppress(ProcessLookupError):  # pool children left behind, if any
            os.killpg(self.proc.pid, signal.SIGKILL)


@pytest.fixture(scope="session")
def celery_worker(django_db_setup, django_db_blocker, pki) -> Iterator[WorkerProcess]:
    """One worker for the session, consuming this run's queue. Its outbound calls trust the
    test CA and may reach the loopback test servers (by address: it has no test DNS)."""
    from tests.support.servers import ALLOWED_NETWORKS

    with django_db_blocker.unblock():
        worker = WorkerProcess(
            worker_env(
                {
                    "OUTBOUND_CA_BUNDLE": str(pki.ca_pem),
                    "OUTBOUND_ALLOWED_NETWORKS": ",".join(ALLOWED_NETWORKS),
                }
            )
        )
    try:
        yield worker
    finally:
        worker.stop()


def wait_until(predicate: Callable[[], object], timeout: float = 30, interval: float = 0.1):
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)
