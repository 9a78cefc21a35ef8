"""Create the bench tenant, key, data source and items (or, with ``--events``, what the events
bench needs); print what the bench needs as JSON."""

import json
import os
import sys

import django


def seed(upstream: str) -> dict:
    """The bench's tenant, admin key, data source and items (through the services, as the API
    would create them)."""
    from apps.datasources.inputs import datasource_input
    from apps.datasources.services import datasource_create
    from apps.items.services import item_create
    from apps.tenants.services import api_key_create, tenant_create

    tenant = tenant_create(slug="bench", name="Bench")
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
    from apps.tenants.services import tenant_create

    tenant = tenant_create(slug="bench-events", name="Bench events")
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


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    django.setup()
    if sys.argv[1] == "--events":
        print(json.dumps(seed_events(sys.argv[2])))
    else:
        print(json.dumps(seed(sys.argv[1])))
