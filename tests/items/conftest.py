import json
import ssl
import urllib.request

import pytest
import redis

from apps.items.services import item_create
from tests.factories import DataSourceFactory
from tests.support.servers import UPSTREAM_IP


class UpstreamCounters:
    """Reads the upstream's own count of calls (not the product's idea of them)."""

    def __init__(self, upstream):
        self.upstream = upstream
        self.context = ssl.create_default_context(cafile=str(upstream.ca_pem))

    def _get(self, path):
        url = f"https://{UPSTREAM_IP}:{self.upstream.port}{path}"
        with urllib.request.urlopen(url, context=self.context, timeout=10) as response:
            return json.loads(response.read())

    def calls(self, path: str) -> int:
        return self._get("/_test/counts").get(path, 0)

    def fail_with(self, value: str) -> None:
        self._get(f"/_test/switch?name=fail&value={value}")


@pytest.fixture
def counters(upstream):
    counters = UpstreamCounters(upstream)
    counters.fail_with("")
    counters._get("/_test/counts?reset=1")
    yield counters
    counters.fail_with("")


@pytest.fixture
def source(acme, upstream):
    return DataSourceFactory(
        tenant=acme.tenant, name="Tracker", slug="tracker", base_url=upstream.url()
    )


@pytest.fixture
def projects(acme, source):
    return item_create(tenant=acme.tenant, data={
        "key": "project", "name": "Project", "datasource": str(source.pk),
        "path": "/_test/data/projects", "value": "{key}", "label": "{name}",
    })  # fmt: skip


@pytest.fixture
def issues(acme, source):
    return item_create(tenant=acme.tenant, data={
        "key": "issue", "name": "Issue", "datasource": str(source.pk),
        "path": "/_test/data/issues?project={project}", "results_path": "data.items",
        "value": "{key}", "label": "{key} – {fields.summary}",
    })  # fmt: skip


@pytest.fixture
def redis_commands(monkeypatch):
    """The commands this process sends to Redis while the test runs, each round trip once (a
    pipeline is one round trip: PIPELINE)."""
    sent: list[str] = []
    execute_command = redis.Redis.execute_command
    execute_pipeline = redis.client.Pipeline.execute

    def command(self, *args, **options):
        sent.append(str(args[0]).upper())
        return execute_command(self, *args, **options)

    def pipeline(self, *args, **kwargs):
        sent.append("PIPELINE")
        return execute_pipeline(self, *args, **kwargs)

    monkeypatch.setattr(redis.Redis, "execute_command", command)
    monkeypatch.setattr(redis.client.Pipeline, "execute", pipeline)
    return sent
