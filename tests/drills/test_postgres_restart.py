"""Drill: PostgreSQL restarted (``pg_ctl restart -m fast``) under a running deployment.

Requests caught by the restart fail cleanly and quickly — a 5xx with the contract's error body,
or at worst a refused connection, never a hang — and once the server is back every request
succeeds again with no process restarted: production keeps connections (``CONN_MAX_AGE``) and
checks them before reuse (``CONN_HEALTH_CHECKS``), so a connection the restart cut is replaced,
not used. An options hit needs no database query (a process re-reads its tenants' limits every
30 s) and keeps answering through the restart. The
Celery worker's connections recover the same way.

And a database address that takes connections and never answers (a frozen server, a failover
under way) fails a request within the connect timeout (``DATABASE_CONNECT_TIMEOUT``, 5 s),
not psycopg's default 130 s.
"""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.drills.relay import Relay
from tests.drills.stack import Api, Web, create_datasource, create_item, timed, wait_for
from tests.support.worker import WorkerProcess

pytestmark = [pytest.mark.drill, pytest.mark.timeout(180)]

# No request may take longer than this, restart or not (gunicorn's own timeout is 30 s).
REQUEST_BUDGET = 10.0


@pytest.fixture(scope="module")
def world(stack, upstream_server):
    web = stack.web(name="web-pg", workers=2, threads=4)
    worker = WorkerProcess(stack.env, concurrency=1, queue="celery")
    stack.services.append(worker)
    seeded = stack.seed_tenant("acme")
    admin = Api(web, seeded["key"], timeout=REQUEST_BUDGET + 5)
    source = create_datasource(
        admin, base_url=f"https://127.0.0.2:{upstream_server.port}/_test/data"
    )
    create_item(admin, source["id"], "projects", f"/projects?drill={uuid.uuid4().hex[:8]}")
    return {"stack": stack, "admin": admin, "web": web}


def list_sources(api: Api) -> requests.Response:
    return api.get("/api/v1/datasources/")


def options(api: Api) -> requests.Response:
    return api.get("/api/v1/items/projects/options/")


def concurrently(count: int, call) -> list:
    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(lambda _: timed(call), range(count)))


def heartbeat_recorded(stack) -> None:
    name = f"drill-{uuid.uuid4().hex[:8]}"
    stack.send_task("apps.core.tasks.worker_heartbeat", name)
    wait_for(lambda: stack.sql("SELECT 1 FROM core_workerheartbeat WHERE name = %s", (name,)),
             30, interval=0.3)  # fmt: skip


class Traffic:
    """Threads calling the API in a loop until stopped; every outcome kept with its duration."""

    def __init__(self, calls: dict) -> None:
        self.outcomes: dict[str, list] = {name: [] for name in calls}
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._loop, args=(name, call), daemon=True)
            for name, call in calls.items()
        ]
        for thread in self._threads:
            thread.start()

    def _loop(self, name, call) -> None:
        deadline = time.monotonic() + 120  # bounded whatever happens
        while not self._stop.is_set() and time.monotonic() < deadline:
            self.outcomes[name].append(timed(call))
            time.sleep(0.01)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=REQUEST_BUDGET + 10)


def is_contract_error(response: requests.Response) -> bool:
    try:
        error = response.json()["error"]
    except (ValueError, KeyError, TypeError):
        return False
    return set(error) == {"code", "message", "details"} and bool(error["message"])


def test_requests_during_a_restart_fail_cleanly_and_recover(world):
    stack, admin = world["stack"], world["admin"]
    assert options(admin).json()["cache"] == "miss"
    for answer, _ in concurrently(16, lambda: options(admin)):  # every process remembers
        assert answer.status_code == 200
    heartbeat_recorded(stack)

    traffic = Traffic({"list": lambda: list_sources(admin), "options": lambda: options(admin)})
    try:
        time.sleep(0.5)
        stack.postgres.restart()
        time.sleep(1.5)
    finally:
        traffic.stop()

    listed = traffic.outcomes["list"]
    assert len(listed) > 10, "too little traffic to prove anything"
    failed = []
    for answer, elapsed in listed:
        assert elapsed < REQUEST_BUDGET, f"a request took {elapsed:.1f} s"
        if isinstance(answer, Exception):
            assert isinstance(answer, requests.ConnectionError), answer
            failed.append(answer)
        elif answer.status_code != 200:
            assert answer.status_code >= 500 and is_contract_error(answer), (
                answer.status_code, answer.text[:300])  # fmt: skip
            failed.append(answer)
    assert listed[-1][0].status_code == 200  # recovered while the traffic went on
    # A hit is one Redis round trip and no query: the restart never reaches it.
    assert [a.status_code for a, _ in traffic.outcomes["options"]] == (
        [200] * len(traffic.outcomes["options"]))  # fmt: skip


def test_after_a_restart_the_first_request_of_every_process_succeeds(world):
    """Every thread of every web process held a connection the restart cut: each is checked
    before reuse and replaced, so not one request fails."""
    stack, admin = world["stack"], world["admin"]
    for answer, _ in concurrently(16, lambda: list_sources(admin)):
        assert answer.status_code == 200

    stack.postgres.restart()

    outcomes = [
        outcome for _ in range(3) for outcome in concurrently(16, lambda: list_sources(admin))
    ]
    statuses = [a.status_code if not isinstance(a, Exception) else repr(a) for a, _ in outcomes]
    assert statuses == [200] * len(outcomes)
    heartbeat_recorded(stack)  # and the worker's connection too


def test_a_database_that_takes_connections_and_never_answers_fails_requests_in_seconds(world):
    stack, admin = world["stack"], world["admin"]
    silent = Relay("127.0.0.1", mode="hang")
    try:
        env = {**stack.env, "DATABASE_URL": stack.postgres.url(stack.database).replace(
            f":{stack.postgres.port}/", f":{silent.port}/")}  # fmt: skip
        web = Web(env, stack.folder, name="web-db-silent", workers=1, threads=2,
                  ready_path="/api/v1/not-a-route")  # a 404 needs no database  # fmt: skip
        stack.services.append(web)

        answer, elapsed = timed(lambda: admin.on(web).get("/api/v1/datasources/"))

        assert not isinstance(answer, Exception), f"no answer after {elapsed:.1f} s: {answer!r}"
        assert answer.status_code >= 500 and is_contract_error(answer), answer.text[:300]
        assert 4.5 <= elapsed < REQUEST_BUDGET, elapsed
        assert silent.accepted >= 1
    finally:
        silent.stop()
