"""Drill: the Celery worker is SIGKILLed (with its pool) in the middle of a scheduled token
refresh — its request to the token endpoint sent, no answer yet — and restarted.

Nothing of the refresh is lost: the dead worker recorded nothing (no failure, the old token kept,
still due), and the periodic task (``refresh_expiring_tokens``, which beat sends every minute;
here the test sends it every few seconds) sends the refresh again. The refresh lock the dead
worker held lapses after its lifetime (the data source's timeout + 40 s), and the restarted
worker then refreshes the token, once.

Deliveries and bulk rows through a SIGKILLed worker are drilled in tests/events/test_worker.py
(``test_a_worker_killed_mid_delivery_loses_nothing``) and tests/bulk/test_worker.py
(``test_a_job_survives_a_sigkilled_worker``).
"""

from __future__ import annotations

import time

import pytest

from tests.drills.relay import Relay
from tests.drills.stack import Api, create_cc_source, token_state, wait_for
from tests.support.servers import OAUTH_IP
from tests.support.worker import WorkerProcess

pytestmark = [pytest.mark.drill, pytest.mark.timeout(150)]

TIMEOUT = 3  # the data source's timeout_seconds
LOCK_LIFETIME = TIMEOUT + 10 + 30  # apps.outbound.tokens / TokenStateStore.exclusive
SCAN_EVERY = 4.0


@pytest.fixture(scope="module")
def world(stack, oauth_server):
    relay = Relay(OAUTH_IP, mode="pass", target=(OAUTH_IP, oauth_server.port))
    web = stack.web(name="web-kill", workers=1, threads=4)
    admin = Api(web, stack.seed_tenant("acme")["key"])
    # The token endpoint is reached through the relay, which the drill makes hold a request.
    source = create_cc_source(admin, oauth_server, timeout=TIMEOUT,
                              token_url=f"https://{OAUTH_IP}:{relay.port}/o/token/")  # fmt: skip
    yield {"stack": stack, "admin": admin, "source": source, "relay": relay,
           "oauth": oauth_server}  # fmt: skip
    relay.stop()


def test_a_refresh_cut_short_by_a_killed_worker_is_done_after_the_restart(world):
    stack, source, relay, oauth = world["stack"], world["source"], world["relay"], world["oauth"]
    assert world["admin"].get(f"/api/v1/proxy/{source['slug']}/hello").status_code == 200
    # An hour's token with two minutes left: the periodic task's to refresh.
    stack.sql(
        "UPDATE datasources_tokenstate SET obtained_at = obtained_at - interval '58 minutes', "
        "expires_at = expires_at - interval '58 minutes' WHERE datasource_id = %s",
        (source["id"],),
    )
    due = token_state(stack, source["id"])
    requests_before = oauth.stats()["token_requests"]

    relay.mode = "hang"  # the token endpoint takes the request and does not answer (yet)
    accepted = relay.accepted
    worker = WorkerProcess(stack.env, concurrency=1, queue="celery")
    try:
        stack.send_task("apps.datasources.tasks.refresh_expiring_tokens")
        wait_for(lambda: relay.accepted > accepted, 30, interval=0.02)
        killed_at = time.monotonic()
    finally:
        worker.kill()
        worker.stop()
    relay.mode = "pass"

    # The dead worker left no trace: no failure recorded, the old token kept, still due.
    after_kill = token_state(stack, source["id"])
    assert (after_kill["expires_at"], after_kill["obtained_at"], after_kill["error"]) == (
        due["expires_at"], due["obtained_at"], "")  # fmt: skip
    assert oauth.stats()["token_requests"] == requests_before

    worker = WorkerProcess(stack.env, concurrency=2, queue="celery")
    stack.services.append(worker)
    deadline = killed_at + LOCK_LIFETIME + 25
    while token_state(stack, source["id"])["seconds_left"] < 30 * 60:
        assert time.monotonic() < deadline, (
            f"not refreshed {LOCK_LIFETIME + 25} s after the kill\n{worker.log()[-3000:]}")  # fmt: skip
        stack.send_task("apps.datasources.tasks.refresh_expiring_tokens")  # as beat would
        time.sleep(SCAN_EVERY)

    state = token_state(stack, source["id"])
    assert state["error"] == "" and state["seconds_left"] > 50 * 60
    assert oauth.stats()["token_requests"] == requests_before + 1  # refreshed once
