"""Create the bench tenant, key, data source and items; print what the bench needs as JSON."""

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


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    django.setup()
    print(json.dumps(seed(sys.argv[1])))
