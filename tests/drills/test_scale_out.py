"""Scale-out, tried: two gunicorn instances on different ports (each its own process, as two
web nodes behind a load balancer would be) sharing one Redis and one PostgreSQL.

- Single flight holds across them: 20 concurrent identical cold options requests, spread over
  both, make one upstream call.
- Token refresh holds across them: 20 concurrent calls with an expired OAuth token, spread over
  both, make one token request to the real OAuth 2.0 server.
- Revocation holds across them: a key both instances remember (shown: they keep trusting it
  when the database alone changes under them) is refused by one the moment the other revokes it.
"""

from __future__ import annotations

import threading
import uuid

import pytest

from tests.drills.stack import (
    Api,
    create_cc_source,
    create_datasource,
    create_item,
    create_key,
    expire_token_locally,
    token_state,
    upstream_counts,
)

pytestmark = [pytest.mark.drill, pytest.mark.timeout(120)]

COUNT = 20


@pytest.fixture(scope="module")
def world(stack, upstream_server, oauth_server):
    # One process each, so that "this instance remembers the key" means one memory.
    web_a = stack.web(name="web-a", workers=1, threads=COUNT)
    web_b = stack.web(name="web-b", workers=1, threads=COUNT)
    seeded = stack.seed_tenant("acme")
    admin = Api(web_a, seeded["key"])
    return {"stack": stack, "a": admin, "b": admin.on(web_b), "upstream": upstream_server,
            "oauth": oauth_server}  # fmt: skip


def spread(apis: list[Api], call) -> list:
    """``COUNT`` calls released together, alternating between the instances."""
    barrier = threading.Barrier(COUNT)
    results: list = [None] * COUNT

    def run(index: int) -> None:
        api = apis[index % len(apis)]
        try:
            barrier.wait(timeout=30)
            results[index] = call(api)
        except Exception as exc:
            results[index] = exc

    threads = [threading.Thread(target=run, args=(n,)) for n in range(COUNT)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_single_flight_spans_instances(world):
    a, b = world["a"], world["b"]
    source = create_datasource(a, base_url=f"https://127.0.0.2:{world['upstream'].port}/_test/data")
    tag = uuid.uuid4().hex[:8]
    path = f"/projects?delay=1&drill={tag}"  # the upstream takes a second: all arrive meanwhile
    create_item(a, source["id"], "slow", path)

    answers = spread([a, b], lambda api: api.get("/api/v1/items/slow/options/"))

    assert [getattr(r, "status_code", r) for r in answers] == [200] * COUNT
    assert sorted(r.json()["cache"] for r in answers) == ["hit"] * (COUNT - 1) + ["miss"]
    assert len({r.json()["fetched_at"] for r in answers}) == 1
    assert upstream_counts(world["upstream"]).get(f"/_test/data{path}") == 1


def test_one_token_request_for_an_expired_token_across_instances(world):
    a, b, stack, oauth = world["a"], world["b"], world["stack"], world["oauth"]
    source = create_cc_source(a, oauth)
    hello = f"/api/v1/proxy/{source['slug']}/hello"
    assert a.get(hello).status_code == 200 and b.get(hello).status_code == 200
    expire_token_locally(stack, source["id"])
    before = oauth.stats()["token_requests"]

    answers = spread([a, b], lambda api: api.get(hello))

    assert [getattr(r, "status_code", r) for r in answers] == [200] * COUNT
    assert oauth.stats()["token_requests"] == before + 1
    assert token_state(stack, source["id"])["seconds_left"] > 30 * 60


def test_a_key_revoked_through_one_instance_is_refused_at_once_by_the_other(world):
    a, b, stack = world["a"], world["b"], world["stack"]
    source = create_datasource(a, base_url=f"https://127.0.0.2:{world['upstream'].port}/_test/data")
    create_item(a, source["id"], "projects", f"/projects?drill={uuid.uuid4().hex[:8]}")
    key_id, raw = create_key(a, "shared")
    on_a, on_b = a.with_key(raw), b.with_key(raw)
    paths = ("/api/v1/items/projects/options/", "/api/v1/datasources/")  # light path, DRF path
    for api in (on_a, on_b):
        for path in paths:
            assert api.get(path).status_code == 200

    # Both remember it: a change made in the database alone (no stamp moved) goes unseen.
    stack.sql("UPDATE tenants_apikey SET revoked_at = now() WHERE id = %s", (key_id,))
    try:
        for api in (on_a, on_b):
            for path in paths:
                assert api.get(path).status_code == 200
    finally:
        stack.sql("UPDATE tenants_apikey SET revoked_at = NULL WHERE id = %s", (key_id,))

    assert a.delete(f"/api/v1/api-keys/{key_id}/").status_code == 204  # through instance A

    for path in paths:  # instance B refuses it at once, as does A
        assert on_b.get(path).status_code == 401
        assert on_a.get(path).status_code == 401
