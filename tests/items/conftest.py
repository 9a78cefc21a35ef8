import pytest
import redis

from apps.items.services import item_create
from tests.factories import DataSourceFactory


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
