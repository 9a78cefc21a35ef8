"""Drill: no beat at all (nor a worker). Tokens are refreshed ahead of time by beat's schedule
when it runs; without it, a token that expired — by its own clock, or because the provider says
so — is refreshed on demand by the next call that needs it, once, against the real OAuth 2.0
server (django-oauth-toolkit over HTTPS)."""

from __future__ import annotations

import pytest

from tests.drills.stack import Api, create_cc_source, expire_token_locally, token_state

pytestmark = [pytest.mark.drill, pytest.mark.timeout(120)]


@pytest.fixture(scope="module")
def world(stack, oauth_server):
    web = stack.web(name="web-nobeat", workers=2, threads=4)
    seeded = stack.seed_tenant("acme")
    admin = Api(web, seeded["key"])
    source = create_cc_source(admin, oauth_server)
    return {"stack": stack, "admin": admin, "source": source, "oauth": oauth_server}


def hello(world):
    return world["admin"].get(f"/api/v1/proxy/{world['source']['slug']}/hello")


def token_requests(world) -> int:
    return world["oauth"].stats()["token_requests"]


def test_an_expired_token_is_refreshed_by_the_next_call(world):
    stack, source = world["stack"], world["source"]
    before = token_requests(world)
    first = hello(world)
    assert first.status_code == 200, first.text
    assert first.json()["ok"] is True
    assert token_requests(world) == before + 1
    expire_token_locally(stack, source["id"])

    answer = hello(world)

    assert answer.status_code == 200, answer.text
    assert token_requests(world) == before + 2
    state = token_state(stack, source["id"])
    assert state["seconds_left"] > 30 * 60 and state["error"] == ""


def test_a_token_the_provider_calls_expired_is_refreshed_once_and_the_call_retried(world):
    stack, source = world["stack"], world["source"]
    assert hello(world).status_code == 200
    # Obtained a while ago (so the refusal is not of a token just obtained), still valid by its
    # own clock: only the provider knows it expired.
    stack.sql(
        "UPDATE datasources_tokenstate SET obtained_at = obtained_at - interval '10 minutes', "
        "expires_at = expires_at - interval '10 minutes' WHERE datasource_id = %s",
        (source["id"],),
    )
    world["oauth"].call("/_test/expire", {})
    before = token_requests(world)

    answer = hello(world)

    assert answer.status_code == 200, answer.text
    assert token_requests(world) == before + 1
    assert world["admin"].get(f"/api/v1/datasources/{source['id']}/").json()["status"] == "ok"
