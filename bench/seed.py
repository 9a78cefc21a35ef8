"""Create the bench tenant, key, data source and items; print what the bench needs as JSON."""

import json
import os
import sys

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
django.setup()

from apps.datasources.services import datasource_create  # noqa: E402
from apps.items.services import item_create  # noqa: E402
from apps.tenants.services import api_key_create, tenant_create  # noqa: E402


def main(upstream: str) -> None:
    tenant = tenant_create(slug="bench", name="Bench")
    _, key = api_key_create(tenant=tenant, scope="admin", name="bench")
    source = datasource_create(
        tenant=tenant,
        data={
            "name": "Upstream",
            "base_url": upstream,
            "auth": {"mode": "none"},
            "timeout_seconds": 10,
        },
        actor=None,
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
    print(json.dumps({"key": key}))


if __name__ == "__main__":
    main(sys.argv[1])
