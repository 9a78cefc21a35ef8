import csv
import io
import itertools
import json
import ssl
import urllib.request

import pytest

from tests.factories import DataSourceFactory
from tests.support.servers import UPSTREAM_IP

_names = itertools.count()


class Sinks:
    """Record sinks on the HTTPS test upstream (see ``upstream_app._sink``)."""

    def __init__(self, upstream):
        self.upstream = upstream
        self.context = ssl.create_default_context(cafile=str(upstream.ca_pem))

    def new(self) -> str:
        return f"sink{next(_names)}-{id(self)}"

    def log(self, name: str) -> dict:
        url = f"https://{UPSTREAM_IP}:{self.upstream.port}/_test/records/{name}/log"
        with urllib.request.urlopen(url, context=self.context, timeout=10) as response:
            return json.loads(response.read())


@pytest.fixture
def sinks(upstream_server):
    return Sinks(upstream_server)


@pytest.fixture
def bulk_source(acme, upstream):
    """A data source at the upstream's root, with a custom header and Basic auth."""
    return DataSourceFactory(
        tenant=acme.tenant, name="Records", slug="records", base_url=upstream.url(),
        timeout_seconds=10, headers=[{"name": "X-Env", "value": "bulk"}], auth_mode="basic",
        auth_config={"username": "elements"}, secrets={"password": "bulk-canary-secret"},
    )  # fmt: skip


def csv_bytes(rows: list[list[str]], *, bom: bool = False) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return (b"\xef\xbb\xbf" if bom else b"") + buffer.getvalue().encode()


def upload(client, datasource, content: bytes, path: str, method: str | None = None,
           name: str = "rows.csv"):  # fmt: skip
    query = f"?path={path}" + (f"&method={method}" if method else "")
    return client.post(f"/api/v1/datasources/{datasource.pk}/bulk/{query}",
                       {"file": io.BytesIO(content) if name is None else _named(content, name)},
                       format="multipart")  # fmt: skip


def _named(content: bytes, name: str):
    handle = io.BytesIO(content)
    handle.name = name
    return handle


@pytest.fixture
def no_worker_queue(settings):
    """Jobs started by a test are queued where no worker looks (the test runs them itself);
    the queue is emptied afterwards."""
    import redis as redis_client

    settings.BULK_QUEUE = f"bulk-nobody-{settings.RUN_TAG}"
    yield settings.BULK_QUEUE
    redis_client.Redis.from_url(settings.CELERY_BROKER_URL).delete(settings.BULK_QUEUE)
