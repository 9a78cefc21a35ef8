"""The benchmarks are not run by the suite; what they set up is, so that they cannot rot."""

from django.db import connection

from apps.datasources.event_settings import events_of
from apps.datasources.models import DataSource
from apps.events.inbound import datasource_for_token
from apps.items.models import ConnectedItem
from apps.tenants import limits
from apps.tenants.models import Tenant
from bench.seed import INSERT_TABLE, seed, seed_events, seed_soak
from tests.support.servers import ALLOWED_NETWORKS


def test_the_bench_seed_creates_its_tenant_key_data_source_and_items(db):
    made = seed("https://127.0.0.2:9")

    assert made["key"].startswith("pb_")
    assert DataSource.objects.get(pk=made["datasource"]).base_url == "https://127.0.0.2:9"
    assert set(ConnectedItem.objects.values_list("key", flat=True)) == {
        "projects",
        "varying",
        "cold",
    }


def test_the_events_bench_seed_creates_its_data_sources_and_the_bare_views_table(db, settings):
    settings.OUTBOUND_ALLOWED_NETWORKS = list(ALLOWED_NETWORKS)  # the callback is on 127.0.0.2

    made = seed_events("https://127.0.0.2:9")

    found = {name: datasource_for_token(made[name]["token"]) for name in made}
    assert {name: str(source.pk) for name, source in found.items()} == {
        name: made[name]["id"] for name in made
    }
    assert {name: events_of(source).delivers for name, source in found.items()} == {
        "recording": False,
        "delivering": True,
        "delivered": True,
    }
    assert events_of(found["delivered"]).callback_url == "https://127.0.0.2:9/_test/hooks/bench"
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {INSERT_TABLE} (id, content_type, body) "  # noqa: S608 - a constant
            "VALUES (gen_random_uuid(), 'application/json', %s)",
            [b"{}"],
        )


def test_the_soak_seed_turns_the_rate_limits_off_and_delivers_from_its_own_data_source(
    db, settings
):
    settings.OUTBOUND_ALLOWED_NETWORKS = list(ALLOWED_NETWORKS)  # the callback is on 127.0.0.2

    made = seed_soak("https://127.0.0.2:9")

    tenant = Tenant.objects.get(slug="soak")
    limits.forget()
    for thing, subjects in (("options", {"key": 1}), ("proxy", {"key": 1}),
                            ("inbound", {"source": 1})):  # fmt: skip
        assert [quota.limit for quota in limits.quotas(thing, tenant.pk, **subjects)] == [0, 0]
    assert made["key"].startswith("pb_")
    upstream = DataSource.objects.get(tenant=tenant, slug=made["slug"])
    assert set(ConnectedItem.objects.filter(datasource=upstream).values_list("key", flat=True)) == {
        "projects",
        "many",
        "varying",
    }
    events = datasource_for_token(made["events"]["token"])
    assert str(events.pk) == made["events"]["id"] != str(upstream.pk)
    assert events_of(events).delivers
    assert events_of(events).callback_url == "https://127.0.0.2:9/_test/hooks/soak"


def test_the_bench_tenants_are_counted_but_never_refused(db):
    from apps.tenants.limits import tenant_limits
    from apps.tenants.models import Tenant

    seed("https://127.0.0.2:9")
    limits = tenant_limits(Tenant.objects.get(slug="bench").pk)
    assert limits["options"]["key"] >= 10**9 and limits["proxy"]["key"] >= 10**9
