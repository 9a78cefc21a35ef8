import pytest

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
