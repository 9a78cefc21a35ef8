"""Create the bench tenant, key, data source and items (or, with ``--events``, what the events
bench needs; with ``--soak``, what the soak needs); print what the bench needs as JSON."""

import json
import os
import sys

import django

# The benchmarks load one API key far past the default limits: their tenants' limits are high
# enough never to refuse, while every request is still counted as in production.
BENCH_LIMITS = {
    "options": {"key": 10**9, "tenant": 10**9},
    "proxy": {"key": 10**9, "tenant": 10**9},
    "inbound": {"source": 10**9, "tenant": 10**9},
}


def _bench_tenant(slug: str, name: str):
    from apps.tenants.services import tenant_create, tenant_save

    tenant = tenant_create(slug=slug, name=name)
    tenant.limits = BENCH_LIMITS
    return tenant_save(tenant=tenant)


def seed(upstream: str) -> dict:
    """The bench's tenant, admin key, data source and items (through the services, as the API
    would create them)."""
    from apps.datasources.inputs import datasource_input
    from apps.datasources.services import datasource_create
    from apps.items.services import item_create
    from apps.tenants.services import api_key_create

    tenant = _bench_tenant("bench", "Bench")
    _, key = api_key_create(tenant=tenant, scope="admin", name="bench")
    source = datasource_create(
        tenant=tenant,
        actor=None,
        **datasource_input({"name": "Upstream", "base_url": upstream, "timeout_seconds": 10}),
    )
    for key_name, path in (
        ("projects", "/_test/data/projects"),
        ("varying", "/_test/data/projects?v={v}"),
        ("cold", "/_test/data/projects?delay=0.3&v={v}"),
    ):
        item_create(tenant=tenant, data={
            "key": key_name, "name": key_name, "datasource": str(source.pk), "path": path,
            "value": "{key}", "label": "{name}",
        })  # fmt: skip
    return {"key": key, "datasource": str(source.pk), "slug": source.slug}


INSERT_TABLE = "bench_insert"


def seed_events(upstream: str) -> dict:
    """The events bench's tenant and data sources (through the services, as the API would
    create them): one that records only, one that delivers to the upstream's webhook receiver
    ``/_test/hooks/bench`` (measured while no worker runs), and one alike for the delivery
    runs. Also the bare view's table: one row per request, an id like an event's and the body."""
    from django.db import connection

    from apps.datasources.event_settings import new_signature_key
    from apps.datasources.inputs import datasource_input
    from apps.datasources.services import datasource_create

    tenant = _bench_tenant("bench-events", "Bench events")
    made = {}
    for name, delivers in (("recording", False), ("delivering", True), ("delivered", True)):
        events = {"enabled": True, "callback_url": f"{upstream}/_test/hooks/bench",
                  "signature_key": new_signature_key()} if delivers else {}  # fmt: skip
        source = datasource_create(
            tenant=tenant,
            actor=None,
            **datasource_input({"name": name, "base_url": upstream, "events": events}),
        )
        made[name] = {"id": str(source.pk), "token": source.inbound_token}
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TABLE IF NOT EXISTS {INSERT_TABLE} (id uuid PRIMARY KEY, "
            "received_at timestamptz NOT NULL DEFAULT now(), content_type varchar(200) NOT NULL, "
            "body bytea NOT NULL)"
        )
    return made


# The soak measures the product, not its limiter: its tenant has no rate limits on what the
# soak sends (0: none); the concurrency cap and the cache's byte budget keep their defaults.
SOAK_LIMITS = {
    "options": {"key": 0, "tenant": 0},
    "proxy": {"key": 0, "tenant": 0},
    "inbound": {"source": 0, "tenant": 0},
}


def seed_soak(upstream: str) -> dict:
    """The soak's tenant (no rate limits on options, proxy and inbound), its admin key, a data
    source for options and the proxy with the items the soak asks options of, and a second
    data source whose inbound URL records events and delivers them to the upstream's webhook
    receiver ``/_test/hooks/soak`` (a second one: an inbound event purges its data source's
    cached options, which would turn the soak's hits into misses)."""
    from apps.datasources.event_settings import new_signature_key
    from apps.datasources.inputs import datasource_input
    from apps.datasources.services import datasource_create
    from apps.items.services import item_create
    from apps.tenants.models import Tenant
    from apps.tenants.services import api_key_create, tenant_create, tenant_save

    tenant = tenant_create(slug="soak", name="Soak")
    tenant.limits = SOAK_LIMITS
    tenant_save(tenant=tenant)
    _, key = api_key_create(tenant=tenant, scope="admin", name="soak")
    source = datasource_create(
        tenant=tenant,
        actor=None,
        **datasource_input({"name": "Upstream", "base_url": upstream, "timeout_seconds": 10}),
    )
    for key_name, path, value in (
        ("projects", "/_test/data/projects", "{key}"),
        ("many", "/_test/data/many?n=20", "{id}"),
        ("varying", "/_test/data/projects?v={v}", "{key}"),
    ):
        item_create(tenant=tenant, data={
            "key": key_name, "name": key_name, "datasource": str(source.pk), "path": path,
            "value": value, "label": "{name}",
        })  # fmt: skip
    events = datasource_create(
        tenant=tenant,
        actor=None,
        **datasource_input({
            "name": "Events", "base_url": upstream,
            "events": {"enabled": True, "callback_url": f"{upstream}/_test/hooks/soak",
                       "signature_key": new_signature_key()},
        }),
    )  # fmt: skip
    assert Tenant.objects.get(pk=tenant.pk).limits == SOAK_LIMITS
    return {"key": key, "slug": source.slug, "events": {"id": str(events.pk),
            "token": events.inbound_token}}  # fmt: skip


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    django.setup()
    if sys.argv[1] == "--events":
        print(json.dumps(seed_events(sys.argv[2])))
    elif sys.argv[1] == "--soak":
        print(json.dumps(seed_soak(sys.argv[2])))
    else:
        print(json.dumps(seed(sys.argv[1])))
