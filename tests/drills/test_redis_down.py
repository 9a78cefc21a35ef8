"""Drill: Redis (cache, stamps, locks and broker) goes away under a running deployment, then
comes back empty, and nothing is restarted.

While it is down: options still answer, from the upstream (every call goes there); API keys are
still verified, from the database; a key revoked before the outage stays refused; a revocation
is refused with 503 ``cache_unavailable`` (README, Connected items: "when Redis cannot be
reached to move a stamp, the change is refused rather than left unannounced"), so the key it
named keeps working until it is revoked once Redis is back. After it comes back, with every
stamp gone: the key revoked before the outage is still refused, a revocation takes effect at once
in every web process, options are cached again, and the worker consumes the broker again.
"""

from __future__ import annotations

import uuid

import pytest

from tests.drills.stack import (
    Api,
    create_datasource,
    create_item,
    create_key,
    error_code,
    timed,
    upstream_counts,
    wait_for,
)
from tests.support.worker import WorkerProcess

pytestmark = [pytest.mark.drill, pytest.mark.timeout(180)]

# A request must not wait on a Redis that is gone: the cache's client fails fast
# (SOCKET_CONNECT_TIMEOUT, SOCKET_TIMEOUT 1 s) and the product carries on without it.
OUTAGE_BUDGET = 3.0


@pytest.fixture(scope="module")
def world(stack, upstream_server):
    web = stack.web(name="web-redis", workers=2, threads=4)
    worker = WorkerProcess(stack.env, concurrency=1, queue="celery")
    stack.services.append(worker)
    seeded = stack.seed_tenant("acme")
    admin = Api(web, seeded["key"])
    source = create_datasource(
        admin, base_url=f"https://127.0.0.2:{upstream_server.port}/_test/data"
    )
    tag = uuid.uuid4().hex[:8]  # the upstream's counters are shared by the whole run
    create_item(admin, source["id"], "projects", f"/projects?drill={tag}")
    return {"web": web, "worker": worker, "admin": admin, "tag": tag, "stack": stack,
            "upstream": upstream_server}  # fmt: skip


def options(api: Api):
    return api.get("/api/v1/items/projects/options/")


def upstream_calls(world) -> int:
    return upstream_counts(world["upstream"]).get(f"/_test/data/projects?drill={world['tag']}", 0)


def test_redis_outage_and_return(world):
    stack, admin = world["stack"], world["admin"]
    _, reader_key = create_key(admin, "reader")
    revoked_id, revoked_key = create_key(admin, "revoked before")
    target_id, target_key = create_key(admin, "revoked during")
    reader, revoked, target = (admin.with_key(k) for k in (reader_key, revoked_key, target_key))

    # Before: cached answers, every key remembered by the processes that served it.
    assert options(reader).json()["cache"] == "miss"
    assert options(reader).json()["cache"] == "hit"
    for api in (reader, revoked, target):
        for _ in range(4):  # both gunicorn workers, most likely
            assert options(api).status_code == 200
    assert admin.delete(f"/api/v1/api-keys/{revoked_id}/").status_code == 204
    assert options(revoked).status_code == 401

    stack.redis.stop()
    try:
        before = upstream_calls(world)
        for _ in range(3):
            answer, elapsed = timed(lambda: options(reader))
            assert answer.status_code == 200, answer.text
            assert answer.json()["cache"] == "miss"  # nothing can be cached: from the upstream
            assert [o["value"] for o in answer.json()["options"]] == ["PB", "OPS", "WEB"]
            assert elapsed < OUTAGE_BUDGET, elapsed
        assert upstream_calls(world) == before + 3

        # Keys are verified from the database: the good one works on the full DRF path too,
        # the one revoked before the outage stays refused, an unknown one is refused.
        listed, elapsed = timed(lambda: reader.get("/api/v1/datasources/"))
        assert listed.status_code == 200 and elapsed < OUTAGE_BUDGET, (listed.text, elapsed)
        for _ in range(4):
            assert options(revoked).status_code == 401
            assert reader.get("/api/v1/datasources/").status_code == 200
        assert options(admin.with_key("pb_" + "x" * 40)).status_code == 401

        # A revocation cannot be announced to the other processes: refused, not half made.
        refused, elapsed = timed(lambda: admin.delete(f"/api/v1/api-keys/{target_id}/"))
        assert refused.status_code == 503, refused.text
        assert error_code(refused) == "cache_unavailable"
        assert elapsed < OUTAGE_BUDGET
        assert stack.sql("SELECT revoked_at FROM tenants_apikey WHERE id = %s",
                         (target_id,)) == [(None,)]  # fmt: skip
        assert options(target).status_code == 200  # not revoked, so it keeps working

        # (Each process remembers a check's outcome for HEALTH_CHECK_SECONDS, 5 by default.)
        # (A 503 response is falsy, so the predicate hands it back in a list.)
        [health] = wait_for(lambda: (r := admin.get("/healthz")).status_code == 503 and [r], 10)
        assert (health.json()["database"], health.json()["cache"]) == ("ok", "error")
    finally:
        stack.redis.start()  # empty: every stamp, cached answer and queued task is gone

    # Back, without restarting anything.
    wait_for(lambda: admin.get("/healthz").status_code == 200, 15)
    for _ in range(4):
        assert options(revoked).status_code == 401  # its stamps are gone; still refused
    assert options(reader).json()["cache"] in ("miss", "hit")
    assert options(reader).json()["cache"] == "hit"  # cached again

    assert admin.delete(f"/api/v1/api-keys/{target_id}/").status_code == 204
    for _ in range(8):  # at once, in every web process that remembered it
        assert options(target).status_code == 401
        assert target.get("/api/v1/datasources/").status_code == 401

    # The worker found the broker again: a task sent now runs.
    name = f"drill-{uuid.uuid4().hex[:8]}"
    stack.send_task("apps.core.tasks.worker_heartbeat", name)
    wait_for(lambda: stack.sql("SELECT 1 FROM core_workerheartbeat WHERE name = %s", (name,)),
             30, interval=0.3)  # fmt: skip
