"""The options service and endpoint, against the HTTPS upstream and real Redis."""

import logging
import time
import zlib

import pytest
from django.test import override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from apps.core import redis
from apps.items.cache import indexes, keys
from apps.items.services import item_create, item_update
from apps.tenants.services import api_key_create
from tests.support.concurrency import run_together

OPTIONS = "/api/v1/items/{}/options/"


def get(api, key, **params):
    return api.get(OPTIONS.format(key), params)


def test_a_miss_then_a_hit_with_one_upstream_call(acme, projects, counters):
    api = acme.api()
    first = get(api, "project").json()
    second = get(api, "project").json()

    assert first["cache"] == "miss" and second["cache"] == "hit"
    assert first["options"] == [
        {"value": "PB", "label": "Plugboard"},
        {"value": "OPS", "label": "Operations"},
        {"value": "WEB", "label": "Website"},
    ]
    assert second["options"] == first["options"]
    assert second["fetched_at"] == first["fetched_at"] and first["fetched_at"].endswith("Z")
    assert counters.calls("/_test/data/projects") == 1


def test_dependencies_fill_the_request_and_key_the_cache(acme, issues, counters):
    api = acme.api()
    pb = get(api, "issue", project="PB").json()
    ops = get(api, "issue", project="OPS").json()
    get(api, "issue", project="PB")

    assert pb["options"][0] == {"value": "PB-1", "label": "PB-1 – Plugboard task 1"}
    assert ops["options"] == [{"value": "OPS-1", "label": "OPS-1 – Rotate keys"}]
    assert counters.calls("/_test/data/issues?project=PB") == 1
    assert counters.calls("/_test/data/issues?project=OPS") == 1


def test_a_missing_dependency_is_a_400_naming_it(acme, issues, counters):
    response = get(acme.api(), "issue")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "missing_dependency" and error["details"] == {"missing": ["project"]}
    assert counters.calls("/_test/data/issues") == 0


def test_q_filter_and_limit_apply_to_the_cached_list_without_upstream_calls(
    acme, projects, counters
):
    api = acme.api()
    get(api, "project")
    by_label = get(api, "project", q="OPER").json()
    filtered = get(api, "project", filter="issues=gt=5;active==true").json()
    by_date = get(api, "project", filter="created=ge=2024-01-01").json()
    limited = get(api, "project", limit=2).json()
    combined = get(api, "project", filter="lead.name=in=(Ann,Cleo)", q="web", limit=5).json()

    assert [o["value"] for o in by_label["options"]] == ["OPS"]
    assert [o["value"] for o in filtered["options"]] == ["PB"]
    assert [o["value"] for o in by_date["options"]] == ["PB", "WEB"]
    assert [o["value"] for o in limited["options"]] == ["PB", "OPS"]
    assert [o["value"] for o in combined["options"]] == ["WEB"]
    assert {r["cache"] for r in (by_label, filtered, by_date, limited, combined)} == {"hit"}
    assert counters.calls("/_test/data/projects") == 1


def test_a_bad_filter_is_a_400_naming_the_position(acme, projects):
    response = get(acme.api(), "project", filter="issues=gt=")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_filter" and error["details"] == {"position": 11}


def test_filters_take_the_reference_grammar_and_refuse_past_their_bounds(acme, projects):
    api = acme.api()
    spelled = get(api, "project", filter="issues > 5 and active==true or name=lk='web*'").json()
    assert [o["value"] for o in spelled["options"]] == ["PB", "WEB"]

    for expression, position in (
        ("name=lk=" + "*" * 1993, 2001),  # 2,001 characters
        ("(" * 21 + "issues>5" + ")" * 21, 21),  # 21 groups deep
        ("name==a~b", 8),  # reserved, unquoted
    ):
        response = get(api, "project", filter=expression)
        assert response.status_code == 400
        error = response.json()["error"]
        assert error["code"] == "invalid_filter" and error["details"] == {"position": position}
        assert f"position {position}" in error["message"]


def test_a_bad_limit_is_a_400(acme, projects):
    assert get(acme.api(), "project", limit="0").json()["error"]["code"] == "invalid_limit"
    assert get(acme.api(), "project", limit="x").status_code == 400


def test_only_2xx_answers_are_stored(acme, source, counters):
    item = item_create(tenant=acme.tenant, data={
        "key": "broken", "name": "Broken", "datasource": str(source.pk),
        "path": "/_test/data/status?code=404", "value": "{id}", "label": "{id}",
    })  # fmt: skip
    for _ in range(2):
        response = get(acme.api(), item.key)
        assert response.status_code == 502
        assert response.json()["error"]["code"] == "upstream_error"
        assert response.json()["error"]["details"]["status_code"] == 404
    assert counters.calls("/_test/data/status") == 2


@pytest.mark.parametrize(
    ("failure", "status", "code"),
    [
        ("500", 502, "upstream_error"),
        ("503", 502, "upstream_error"),
        ("slow", 504, "upstream_timeout"),
    ],
)
def test_upstream_failures_map_to_contract_errors(
    failure, status, code, acme, projects, counters, source
):
    source.timeout_seconds = 2
    source.save()
    counters.fail_with(failure)
    response = get(acme.api(), "project")
    assert response.status_code == status
    assert response.json()["error"]["code"] == code


def test_rate_limiting_is_passed_on_with_retry_after(acme, source):
    item = item_create(tenant=acme.tenant, data={
        "key": "limited", "name": "Limited", "datasource": str(source.pk),
        "path": "/_test/rate-limited?retry_after=42", "value": "{id}", "label": "{id}",
    })  # fmt: skip
    response = get(acme.api(), item.key)
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "42"
    assert response.json()["error"]["code"] == "upstream_rate_limited"


def test_an_unreachable_upstream_is_a_502(acme, source, settings):
    from tests.support.servers import free_port

    source.base_url = f"https://127.0.0.2:{free_port('127.0.0.2')}"
    source.save()
    item = item_create(tenant=acme.tenant, data={
        "key": "gone", "name": "Gone", "datasource": str(source.pk), "path": "/x",
        "value": "{id}", "label": "{id}",
    })  # fmt: skip
    response = get(acme.api(), item.key)
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "upstream_unreachable"


def test_a_blocked_destination_is_a_502(acme, source, test_dns):
    test_dns["internal.test"] = ["10.0.0.8"]
    source.base_url = "https://internal.test"
    source.save()
    item = item_create(tenant=acme.tenant, data={
        "key": "internal", "name": "Internal", "datasource": str(source.pk), "path": "/x",
        "value": "{id}", "label": "{id}",
    })  # fmt: skip
    response = get(acme.api(), item.key)
    assert (response.status_code, response.json()["error"]["code"]) == (502, "destination_blocked")


def test_an_answer_of_the_wrong_shape_is_unexpected_response(acme, source):
    item = item_create(tenant=acme.tenant, data={
        "key": "shape", "name": "Shape", "datasource": str(source.pk),
        "path": "/_test/data/not-a-list", "results_path": "data.items", "value": "{id}", "label": "{id}",
    })  # fmt: skip
    response = get(acme.api(), item.key)
    assert response.status_code == 502
    error = response.json()["error"]
    assert error["code"] == "unexpected_response" and "data.items" in error["message"]


def test_a_stale_answer_is_served_when_the_upstream_fails(acme, projects, counters):
    api = acme.api()
    assert get(api, "project").json()["cache"] == "miss"
    # The 300 s entry has expired; its last-good copy (kept 10 minutes longer) remains.
    client = redis.client()
    client.delete(redis.key(keys.entry(_only_entry_name(acme, projects))))
    counters.fail_with("503")

    response = get(api, "project").json()

    assert response["cache"] == "stale"
    assert [o["value"] for o in response["options"]] == ["PB", "OPS", "WEB"]
    counters.fail_with("")
    assert get(api, "project").json()["cache"] == "miss"  # fresh again once the source answers


def test_the_last_good_copy_lives_ten_minutes_past_the_entry(acme, projects):
    get(acme.api(), "project")
    client = redis.client()
    name = _only_entry_name(acme, projects)
    assert 290 < client.ttl(redis.key(keys.entry(name))) <= 300
    assert 890 < client.ttl(redis.key(keys.stale(name))) <= 900


def test_a_4xx_is_not_papered_over_with_a_stale_answer(acme, projects, counters):
    api = acme.api()
    get(api, "project")
    client = redis.client()
    client.delete(redis.key(keys.entry(_only_entry_name(acme, projects))))
    counters.fail_with("404")
    assert get(api, "project").status_code == 502


def _only_entry_name(acme, item):
    client = redis.client()
    index = redis.key(keys.index(item.datasource_id))
    names = client.zrange(index, 0, -1)
    assert len(names) == 1
    return names[0].decode()


def test_changing_the_item_or_its_data_source_invalidates_at_once(acme, projects, source, counters):
    api = acme.api()
    get(api, "project")
    assert get(api, "project").json()["cache"] == "hit"

    item_update(item=projects, data={"label": "{name} ({key})"})
    changed = get(api, "project").json()
    assert changed["cache"] == "miss" and changed["options"][0]["label"] == "Plugboard (PB)"

    acme.api().patch(f"/api/v1/datasources/{source.pk}/", {"timeout_seconds": 30}, format="json")
    assert get(api, "project").json()["cache"] == "miss"
    assert counters.calls("/_test/data/projects") == 3


@pytest.mark.django_db(transaction=True)
def test_concurrent_identical_misses_make_one_upstream_call(acme, source, counters):
    item = item_create(tenant=acme.tenant, data={
        "key": "slow", "name": "Slow", "datasource": str(source.pk),
        "path": "/_test/data/projects?delay=0.5", "value": "{key}", "label": "{name}",
    })  # fmt: skip

    def call():
        response = get(acme.api(), item.key)
        return response.status_code, response.json()["cache"]

    results = run_together(20, call)

    assert {status for status, _ in results} == {200}
    assert sorted(cache for _, cache in results).count("miss") == 1
    assert counters.calls("/_test/data/projects?delay=0.5") == 1


@pytest.mark.django_db(transaction=True)
def test_waiters_share_the_leaders_failure_without_calling(acme, source, counters):
    item = item_create(tenant=acme.tenant, data={
        "key": "slowfail", "name": "Slow failure", "datasource": str(source.pk),
        "path": "/_test/data/status?code=500&delay=0.5", "value": "{id}", "label": "{id}",
    })  # fmt: skip
    statuses = run_together(10, lambda: get(acme.api(), item.key).status_code)

    assert statuses == [502] * 10
    assert counters.calls("/_test/data/status") <= 2  # one leader (a late thread may lead anew)


def test_a_waiter_waits_no_longer_than_the_items_own_timeout(acme, source, counters):
    """A leader that is stuck (here: a flight held by a request that never finishes) holds its
    waiters only for their own timeout, then they answer 504 (not 3 x timeout + 10 s later)."""
    from apps.items.lookup import item_load
    from apps.items.options import _name, evaluate

    source.timeout_seconds = 1
    source.save()
    item = item_create(tenant=acme.tenant, data={
        "key": "stuck", "name": "Stuck", "datasource": str(source.pk),
        "path": "/_test/data/projects", "value": "{key}", "label": "{name}",
    })  # fmt: skip
    ref = item_load(tenant_id=acme.tenant.pk, key=item.key, stamp_value=None)
    name = _name(ref, evaluate(ref, {}))
    redis.client().set(redis.key(keys.flight(name)), "someone-else", px=60_000)
    started = time.monotonic()
    response = get(acme.api(), item.key)
    waited = time.monotonic() - started
    assert response.status_code == 504, response.content
    assert response.json()["error"]["code"] == "upstream_timeout"
    assert 0.9 < waited < 3
    assert counters.calls("/_test/data/projects") == 0


def test_with_redis_down_options_come_from_the_upstream_and_it_is_logged_once(
    acme, projects, counters, caplog
):
    caplog.set_level(logging.WARNING, logger="plugboard.cache")
    down = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2},
        }
    }
    with override_settings(CACHES=down):
        responses = [get(acme.api(), "project") for _ in range(3)]
    assert [r.status_code for r in responses] == [200, 200, 200]
    assert {r.json()["cache"] for r in responses} == {"miss"}
    assert counters.calls("/_test/data/projects") == 3
    warnings = [r for r in caplog.records if "options cache unavailable" in r.getMessage()]
    assert len(warnings) == 1


def test_the_purge_task_removes_old_entries_and_their_indexes(acme, projects, issues):
    from apps.items.tasks import purge_options_cache

    api = acme.api()
    get(api, "project")
    get(api, "issue", project="PB")
    client = redis.client()
    index = redis.key(keys.index(projects.datasource_id))
    assert client.zcard(index) == 2

    assert purge_options_cache() == {"entries": 0, "stale_copies": 0, "indexes": 0, "counted": 0}
    counts = indexes.purge_expired(now=time.time() + 301)  # the task, five minutes on
    assert counts["entries"] == 2 and counts["stale_copies"] == 0
    assert get(api, "project").json()["cache"] == "miss"  # the entry is gone

    counts = indexes.purge_expired(now=time.time() + 1000)
    assert counts["stale_copies"] >= 1
    assert client.zcard(index) == 0
    assert not client.sismember(redis.key(keys.INDEX_ALL), index)


def test_the_purge_cache_action_returns_how_many_entries_it_removed(acme, projects, issues, source):
    api = acme.api()
    get(api, "project")
    get(api, "issue", project="PB")
    get(api, "issue", project="OPS")
    assert api.post(f"/api/v1/datasources/{source.pk}/purge-cache/").json() == {"purged": 3}
    assert get(api, "project").json()["cache"] == "miss"


def test_an_item_of_another_tenant_does_not_exist(acme, globex, projects):
    response = get(globex.api(), "project")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_cache_entries_of_two_tenants_never_mix(acme, globex, upstream, counters):
    from tests.factories import DataSourceFactory

    for world in (acme, globex):
        ds = DataSourceFactory(tenant=world.tenant, base_url=upstream.url())
        item_create(tenant=world.tenant, data={
            "key": "shared-key", "name": "Same key", "datasource": str(ds.pk),
            "path": "/_test/data/projects", "value": "{key}",
            "label": "{name}" if world is acme else "{lead.name}",
        })  # fmt: skip
    a = get(acme.api(), "shared-key").json()
    b = get(globex.api(), "shared-key").json()
    assert a["options"][0]["label"] == "Plugboard" and b["options"][0]["label"] == "Ann"
    assert b["cache"] == "miss"


def test_secrets_echoed_by_the_upstream_are_masked(acme, upstream):
    from tests.factories import DataSourceFactory

    ds = DataSourceFactory(tenant=acme.tenant, base_url=upstream.url(), auth_mode="token",
                           secrets={"token": "tok-canary-echo"})  # fmt: skip
    item_create(tenant=acme.tenant, data={
        "key": "echo", "name": "Echo", "datasource": str(ds.pk), "path": "/_test/data/headers",
        "value": "{authorization}", "label": "{authorization}",
    })  # fmt: skip
    body = get(acme.api(), "echo").content.decode()
    assert "tok-canary-echo" not in body
    assert "[secret]" in body
    client = redis.client()
    for key in client.scan_iter(match=redis.key("*"), count=1000):
        if client.type(key) == b"string":
            value = client.get(key)
            text = zlib.decompress(value) if value[:1] == b"x" else value
            assert b"tok-canary-echo" not in text


# --- widget keys and CORS ------------------------------------------------------------------------


@pytest.fixture
def widget_key(acme):
    _, raw = api_key_create(
        tenant=acme.tenant, scope="widget", origins=["https://intranet.example"]
    )
    return raw


def test_a_widget_key_reads_options_and_gets_cors_for_its_origin(widget_key, projects):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {widget_key}")
    response = client.get(OPTIONS.format("project"), HTTP_ORIGIN="https://intranet.example")
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "https://intranet.example"
    assert "Origin" in response.headers["Vary"]


def test_other_origins_are_refused_without_cors(widget_key, projects):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {widget_key}")
    response = client.get(OPTIONS.format("project"), HTTP_ORIGIN="https://evil.example")
    assert response.status_code == 403
    assert "Access-Control-Allow-Origin" not in response.headers


def test_the_preflight_is_answered_for_allowed_origins_only(widget_key, projects, client):
    allowed = client.options(
        OPTIONS.format("project"),
        HTTP_ORIGIN="https://intranet.example",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization",
    )
    assert allowed.status_code == 204
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://intranet.example"
    assert "Authorization" in allowed.headers["Access-Control-Allow-Headers"]
    refused = client.options(
        OPTIONS.format("project"),
        HTTP_ORIGIN="https://evil.example",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET",
    )
    assert "Access-Control-Allow-Origin" not in refused.headers


def test_admin_keys_get_no_cors(acme, projects):
    response = acme.api().get(OPTIONS.format("project"), HTTP_ORIGIN="https://intranet.example")
    assert response.status_code == 200
    assert "Access-Control-Allow-Origin" not in response.headers


def _headers(response):
    # The request id is each request's own (apps.core.request_id).
    return {name: value for name, value in response.headers.items()
            if name not in ("Content-Length", "X-Request-ID")}  # fmt: skip


def test_cached_hits_answer_the_same_whichever_way_they_are_served(acme, widget_key, projects):
    """The first call takes the full view (the key is new); later hits are served for the
    remembered key. Both must answer alike, headers (CORS included) and all."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {widget_key}")
    origin = {"HTTP_ORIGIN": "https://intranet.example"}
    answers = [client.get(OPTIONS.format("project"), **origin) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert _headers(answers[0]) == _headers(answers[2])
    bodies = [a.json() for a in answers]
    assert bodies[1] == bodies[2] and bodies[1]["cache"] == "hit"
    assert bodies[0]["options"] == bodies[2]["options"]
    for answer in answers:
        assert answer.headers["Access-Control-Allow-Origin"] == "https://intranet.example"
        assert answer.headers["Cache-Control"] == "private, no-store"
    filtered = client.get(OPTIONS.format("project"), {"q": "web"}, **origin).json()
    assert [o["value"] for o in filtered["options"]] == ["WEB"]
    refused = client.get(OPTIONS.format("project"), HTTP_ORIGIN="https://evil.example")
    assert refused.status_code == 403 and "Access-Control-Allow-Origin" not in refused.headers


def test_a_hit_by_a_remembered_key_costs_one_redis_round_trip_and_no_query(
    widget_key, projects, redis_commands, django_assert_num_queries
):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {widget_key}")
    origin = {"HTTP_ORIGIN": "https://intranet.example"}
    for _ in range(2):  # the key and the item are now remembered
        client.get(OPTIONS.format("project"), **origin)
    redis_commands.clear()

    with django_assert_num_queries(0):
        hit = client.get(OPTIONS.format("project"), **origin)

    assert hit.json()["cache"] == "hit"
    assert hit.headers["Access-Control-Allow-Origin"] == "https://intranet.example"
    # One round trip: the entry with the stamps of the key and the item, and the rate limits
    # counters.
    assert redis_commands == ["PIPELINE"]


def test_a_revoked_key_is_refused_at_once_even_for_cached_answers(acme, widget_key, projects):
    from apps.tenants.models import ApiKey

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {widget_key}")
    for _ in range(3):
        assert client.get(OPTIONS.format("project")).status_code == 200
    key = ApiKey.objects.get(tenant=acme.tenant, scope="widget")

    assert acme.api().delete(f"/api/v1/api-keys/{key.id}/").status_code == 204

    refused = client.get(OPTIONS.format("project"))
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "authentication_failed"


def test_a_changed_item_is_seen_at_once_by_the_fast_way(acme, projects):
    api = acme.api()
    for _ in range(3):
        get(api, "project")
    item_update(item=projects, data={"label": "{key}!"})
    assert get(api, "project").json()["options"][0]["label"] == "PB!"


def test_misses_and_errors_for_a_remembered_key_answer_like_the_full_way(
    acme, projects, counters, api_session
):
    api = acme.api()
    for _ in range(2):
        get(api, "project")  # key and item now remembered
    client = redis.client()
    name = _only_entry_name(acme, projects)
    client.delete(redis.key(keys.entry(name)), redis.key(keys.stale(name)))

    counters.fail_with("503")
    failed = get(api, "project")
    assert failed.status_code == 502
    assert failed.json()["error"]["code"] == "upstream_error"
    assert failed.json()["error"]["details"]["status_code"] == 503
    by_session = get(api_session(acme.owner, "acme"), "project")  # the full way, always
    assert (by_session.status_code, by_session.content) == (502, failed.content)

    counters.fail_with("")
    fetched = get(api, "project")
    assert fetched.json()["cache"] == "miss" and len(fetched.json()["options"]) == 3


def test_a_revoked_key_causes_no_upstream_call(acme, widget_key, issues, counters):
    from apps.tenants.models import ApiKey

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {widget_key}")
    for _ in range(2):
        assert client.get(OPTIONS.format("issue"), {"project": "PB"}).status_code == 200
    key = ApiKey.objects.get(tenant=acme.tenant, scope="widget")
    acme.api().delete(f"/api/v1/api-keys/{key.id}/")

    refused = client.get(OPTIONS.format("issue"), {"project": "OPS"})  # a miss

    assert refused.status_code == 401
    assert counters.calls("/_test/data/issues?project=OPS") == 0


@pytest.mark.parametrize(
    ("item_key", "params"),
    [("no-such-item", {}), ("issue", {})],  # unknown; known but a dependency missing
    ids=["unknown item", "missing dependency"],
)
def test_a_revoked_key_learns_nothing_about_items(acme, widget_key, issues, item_key, params):
    from apps.tenants.models import ApiKey

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {widget_key}")
    for _ in range(2):  # the key and the item are now remembered
        assert client.get(OPTIONS.format("issue"), {"project": "PB"}).status_code == 200
    ApiKey.objects.filter(tenant=acme.tenant, scope="widget").update(revoked_at=timezone.now())

    refused = client.get(OPTIONS.format(item_key), params)

    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "authentication_failed"


def test_a_session_gets_the_same_answers_without_cors(acme, projects, api_session):
    by_key = get(acme.api(), "project")
    session = api_session(acme.owner, "acme")
    origin = {"HTTP_ORIGIN": "https://intranet.example"}
    answers = [session.get(OPTIONS.format("project"), **origin) for _ in range(2)]

    assert [a.status_code for a in answers] == [200, 200]
    assert [a.json() for a in answers] == [{**by_key.json(), "cache": "hit"}] * 2
    for answer in answers:
        assert answer.headers["Cache-Control"] == "private, no-store"
        assert "Access-Control-Allow-Origin" not in answer.headers


def test_a_purge_makes_every_entry_a_miss_without_touching_the_database(
    acme, projects, source, counters, django_assert_num_queries
):
    from apps.core import stamps
    from apps.datasources.services import datasource_cache_invalidate

    api = acme.api()
    for _ in range(2):
        assert api.get("/api/v1/items/project/options/").status_code == 200
    assert counters.calls("/_test/data/projects") == 1
    tenant_stamp = stamps.read(stamps.tenant_stamp(acme.tenant.pk))
    with django_assert_num_queries(0):
        datasource_cache_invalidate(datasource_id=source.pk, tenant_id=acme.tenant.pk, free=False)
    # What processes remember of the tenant (keys, items) still holds: only answers are gone.
    assert stamps.read(stamps.tenant_stamp(acme.tenant.pk)) == tenant_stamp
    assert api.get("/api/v1/items/project/options/").json()["cache"] == "miss"
    assert api.get("/api/v1/items/project/options/").json()["cache"] == "hit"
    assert counters.calls("/_test/data/projects") == 2


def test_an_answer_fetched_before_a_purge_is_not_served_after_it(acme, projects, source):
    """A fill that read the purge stamp before a purge and lands after it writes an entry no
    reader takes: its answer may predate the change the purge announced."""
    from apps.datasources.services import datasource_cache_invalidate
    from apps.items.cache import backend

    name = "race-entry"
    _, before, _ = backend.load(name, source.pk)
    datasource_cache_invalidate(datasource_id=source.pk, tenant_id=acme.tenant.pk, free=False)
    backend.store(name, source.pk, [{"value": "old", "label": "Old"}], [], 1.0, before)
    fresh, now, _ = backend.load(name, source.pk)
    assert fresh is None and now != before
    backend.store(name, source.pk, [{"value": "new", "label": "New"}], [], 2.0, now)
    fresh, _, _ = backend.load(name, source.pk)
    assert fresh.options == [{"value": "new", "label": "New"}]


def test_without_redis_a_purge_is_a_new_cache_version(acme, projects, source, counters, settings):
    from apps.datasources.services import datasource_purge_cache

    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    api = acme.api()
    for _ in range(2):
        assert api.get("/api/v1/items/project/options/").status_code == 200
    assert counters.calls("/_test/data/projects") == 1
    datasource_purge_cache(datasource=source, actor=None)
    assert api.get("/api/v1/items/project/options/").json()["cache"] == "miss"
    assert counters.calls("/_test/data/projects") == 2
