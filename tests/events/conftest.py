import base64
import itertools
import json
import ssl
import urllib.request

import pytest

from apps.datasources.event_settings import new_signature_key
from tests.factories import DataSourceFactory
from tests.support.servers import UPSTREAM_IP

_names = itertools.count()


class Hooks:
    """Webhook receivers on the HTTPS test upstream: scripted answers, and what arrived."""

    def __init__(self, upstream):
        self.upstream = upstream
        self.context = ssl.create_default_context(cafile=str(upstream.ca_pem))

    def _get(self, path):
        url = f"https://{UPSTREAM_IP}:{self.upstream.port}{path}"
        with urllib.request.urlopen(url, context=self.context, timeout=10) as response:
            return json.loads(response.read())

    def new(self, *answers: str, delay: float = 0) -> str:
        """A fresh receiver answering ``answers`` in order (``"500"``, ``"429:3"``), then 200."""
        name = f"hook{next(_names)}-{id(self)}"
        self._get(f"/_test/hooks/{name}?script={','.join(answers)}&delay={delay}")
        return name

    def url(self, name: str, host: str = "upstream.test") -> str:
        return self.upstream.url(f"/_test/hooks/{name}", host=host)

    def received(self, name: str) -> list[dict]:
        arrived = self._get(f"/_test/hooks/{name}/received")
        for item in arrived:
            item["body"] = base64.b64decode(item.pop("body_b64"))
        return arrived


class Feeds:
    """Lists to poll on the HTTPS test upstream."""

    def __init__(self, upstream):
        self.upstream = upstream
        self.context = ssl.create_default_context(cafile=str(upstream.ca_pem))

    def _call(self, path, body=None):
        url = f"https://{UPSTREAM_IP}:{self.upstream.port}{path}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method="POST" if data else "GET")
        with urllib.request.urlopen(request, context=self.context, timeout=10) as response:
            return json.loads(response.read())

    def new(self, document) -> str:
        name = f"feed{next(_names)}-{id(self)}"
        self.serve(name, document)
        return name

    def serve(self, name: str, document) -> None:
        self._call(f"/_test/feed/{name}", document)

    def queries(self, name: str) -> list[str]:
        return self._call(f"/_test/feed/{name}/queries")


@pytest.fixture
def hooks(upstream) -> Hooks:
    return Hooks(upstream)


@pytest.fixture
def feeds(upstream) -> Feeds:
    return Feeds(upstream)


@pytest.fixture
def signature_key() -> str:
    return new_signature_key()


@pytest.fixture
def delivering_source(acme, upstream, hooks, signature_key):
    """A data source whose events are delivered to a fresh receiver (``.hook``)."""

    def make(*answers: str, delay: float = 0, **fields):
        name = hooks.new(*answers, delay=delay)
        datasource = DataSourceFactory(
            tenant=acme.tenant, base_url=upstream.url(),
            events_config={"enabled": True, "callback_url": hooks.url(name)},
            event_secrets={"signature_key": signature_key}, **fields,
        )  # fmt: skip
        datasource.hook = name
        return datasource

    return make
