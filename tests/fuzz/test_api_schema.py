"""Schema fuzzing: schemathesis reads the live app's /api/schema/ (Plugboard under gunicorn on
the test database) and calls every operation with generated requests — ones the schema allows
and ones it does not — with an admin API key. Every answer must be no 5xx, documented in the
schema (status, content type, body), and every 4xx must be the contract's error body.

Path parameters are generated, and half the requests name objects that exist (a data source, an
item, an event, a bulk job, an API key), so that the generated bodies and queries reach the
validation behind the 404.

Bounded and deterministic: EXAMPLES requests per operation and mode, derandomized (the same
requests on every run), no example database. One test per operation: the operations are read
from the schema the app generates in this process, and the live schema must list the same ones.

Left out, each with the reason and the targeted test that covers it instead:

- the proxy (``/proxy/{slug}/{path}``, every method): a catch-all that answers whatever the
  upstream answers, so its statuses and bodies are the upstream's and the schema cannot describe
  them (it says "default"); ``test_the_proxys_own_errors_use_the_error_body`` below, and
  tests/proxy/, cover it.
- the bulk upload (``POST /datasources/{id}/bulk/``): a multipart CSV file whose checks (UTF-8,
  a header row, the field count) are about its content, which the schema cannot express, and
  whose generated files are rows of noise; ``test_bulk_upload_refusals_use_the_error_body``
  below, and tests/bulk/test_api.py, cover it.

The inbound event URL (``/inbound/{token}``) is not in the schema: it takes no API key (the token
is the credential); tests/events/test_inbound.py covers it.
"""

from __future__ import annotations

import json
import re
import uuid

import pytest
import requests
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from schemathesis import openapi
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from apps.bulk.models import BulkJob, JobKind
from apps.events.recording import event_record
from apps.items.services import item_create
from apps.tenants.services import api_key_create
from tests.factories import DataSourceFactory, TenantFactory
from tests.support.servers import UPSTREAM_IP, free_port

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(300)]

EXAMPLES = 8
# (method, path) left out of fuzzing, with the reason in the module's docstring.
NOT_FUZZED = re.compile(r"^(\w+ /api/v1/proxy/.*|POST /api/v1/datasources/\{id\}/bulk/)$")


def _operations() -> list[tuple[str, str]]:
    document = SchemaGenerator().get_schema(request=None, public=True)
    return [
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in item
        if method in ("get", "put", "post", "patch", "delete")
    ]


OPERATIONS = _operations()
FUZZED = [op for op in OPERATIONS if not NOT_FUZZED.match(" ".join(op))]


@pytest.fixture(scope="session")
def live_schema(plugboard_server, django_db_blocker):
    # The schema is for signed-in users and admin keys: read with a key of a tenant made for it.
    with django_db_blocker.unblock():
        reader = TenantFactory(slug="schema-reader")
        _, raw = api_key_create(tenant=reader, scope="admin", name="schema reader")
    try:
        schema = openapi.from_url(plugboard_server.url("/api/schema/"), timeout=30,
                                  headers={"Authorization": f"Bearer {raw}"})  # fmt: skip
    finally:
        with django_db_blocker.unblock():
            reader.delete()
    schema.config.generation.update(max_examples=EXAMPLES, deterministic=True)
    return schema


@pytest.fixture
def existing(acme, upstream_server):
    """Objects the generated requests may name, by path parameter, per path prefix."""
    source = DataSourceFactory(
        tenant=acme.tenant, slug="tracker", base_url=f"https://{UPSTREAM_IP}:{upstream_server.port}",
        events_config={"enabled": False},
    )  # fmt: skip
    item_create(tenant=acme.tenant, data={
        "key": "project", "name": "Project", "datasource": str(source.pk),
        "path": "/_test/data/projects", "value": "{key}", "label": "{name}",
    })  # fmt: skip
    event = event_record(datasource=source, source="webhook", body=b'{"a": 1}').event
    job = BulkJob.objects.create(
        id=uuid.uuid4(), tenant=acme.tenant, datasource=source, kind=JobKind.QUERY,
        method="GET", path="/_test/data/projects", spec={}, concurrency=1,
        queued_at=timezone.now(),
    )  # fmt: skip
    spare, _ = api_key_create(tenant=acme.tenant, scope="widget", name="spare")
    return {
        "/api/v1/datasources/{id}": {"id": str(source.pk)},
        "/api/v1/items/{key}": {"key": "project"},
        "/api/v1/events/{id}": {"id": str(event.pk)},
        "/api/v1/bulk/{id}": {"id": str(job.pk)},
        "/api/v1/api-keys/{id}": {"id": str(spare.pk)},
    }


def error_body_for_4xx(ctx, response, case) -> None:
    """Every 4xx answer is the contract's error body."""
    if not 400 <= response.status_code < 500:
        return
    try:
        document = json.loads(response.content)
    except ValueError:
        raise AssertionError(
            f"{response.status_code} is not JSON: {response.content[:200]!r}"
        ) from None
    assert_error_body(document)


def assert_error_body(document) -> None:
    error = document.get("error") if isinstance(document, dict) else None
    assert isinstance(error, dict) and set(error) == {"code", "message", "details"}, document
    assert re.fullmatch(r"[a-z0-9]+(_[a-z0-9]+)*", error["code"]), error
    assert isinstance(error["message"], str) and error["message"], error
    assert isinstance(error["details"], dict), error


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    error_body_for_4xx,
]


def test_the_live_schema_lists_the_operations_fuzzed_here(live_schema):
    live = {
        (operation.method.upper(), operation.path)
        for result in live_schema.get_all_operations()
        for operation in [result.ok()]
    }
    assert live == set(OPERATIONS)
    assert len(FUZZED) == len(OPERATIONS) - 6  # five proxy methods and the bulk upload


@pytest.mark.parametrize(("method", "path"), FUZZED, ids=[f"{m} {p}" for m, p in FUZZED])
def test_every_operation_answers_as_documented(live_schema, acme, existing, method, path):
    operation = live_schema[path][method]
    known = next((v for prefix, v in existing.items() if path.startswith(prefix)), None)
    strategies = [operation.as_strategy(mode) for mode in GenerationMode]
    if known is not None:
        strategies += [
            operation.as_strategy(mode, path_parameters=known) for mode in GenerationMode
        ]
    headers = {"Authorization": f"Bearer {acme.admin_key_raw}"}
    session = requests.Session()

    @hypothesis_settings(
        max_examples=EXAMPLES * len(strategies), derandomize=True, database=None, deadline=None,
        phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
    )  # fmt: skip
    @given(case=st.one_of(strategies))
    def fuzz(case):
        case.call_and_validate(session=session, headers=headers, checks=CHECKS, timeout=30)

    fuzz()


def _live(plugboard_server, acme, method: str, path: str, **kwargs) -> requests.Response:
    headers = {"Authorization": f"Bearer {acme.admin_key_raw}", **kwargs.pop("headers", {})}
    return requests.request(method, plugboard_server.url(path), headers=headers, timeout=30,
                            **kwargs)  # fmt: skip


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/api/v1/proxy/no-such-source/anything", 404, "not_found"),
        ("/api/v1/proxy/tracker/a/%2e%2e/%2e%2e/etc", 400, "invalid_path"),
        ("/api/v1/proxy/tracker/a%2Fb", 400, "invalid_path"),
        ("/api/v1/proxy/closed/anything", 502, "upstream_unreachable"),
    ],
)
def test_the_proxys_own_errors_use_the_error_body(
    acme, existing, plugboard_server, path, status, code
):
    closed = free_port(UPSTREAM_IP)
    DataSourceFactory(tenant=acme.tenant, slug="closed", base_url=f"https://{UPSTREAM_IP}:{closed}")

    for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
        body = b'{"a": 1}' if method in ("POST", "PUT", "PATCH") else None
        response = _live(plugboard_server, acme, method, path, data=body)

        assert response.status_code == status, (method, response.text[:300])
        assert_error_body(response.json())
        assert response.json()["error"]["code"] == code


def test_the_proxy_passes_the_upstreams_answer_through(acme, existing, plugboard_server):
    response = _live(plugboard_server, acme, "GET", "/api/v1/proxy/tracker/status/418")

    assert response.status_code == 418  # the upstream's own status and body: "default"


@pytest.mark.parametrize(
    ("query", "content", "field"),
    [
        ("?path=/contacts", b"", "file"),
        ("?path=/contacts", b"\xff\xfe\x00not utf-8", "file"),
        ("?path=/contacts", b"email,name\n", "file"),
        ("", b"email\na@example.com\n", "path"),
        ("?path=/contacts&method=GET", b"email\na@example.com\n", "method"),
    ],
)
def test_bulk_upload_refusals_use_the_error_body(
    acme, existing, plugboard_server, query, content, field
):
    datasource_id = existing["/api/v1/datasources/{id}"]["id"]

    response = _live(plugboard_server, acme, "POST",
                     f"/api/v1/datasources/{datasource_id}/bulk/{query}",
                     files={"file": ("rows.csv", content, "text/csv")})  # fmt: skip

    assert response.status_code == 400, response.text[:300]
    assert_error_body(response.json())
    assert (
        field in response.json()["error"]["details"].get("fields", {})
        or field in (response.json()["error"]["message"])
    ), response.json()


def test_a_bulk_upload_without_a_file_or_to_another_tenant_is_refused(
    acme, globex, existing, plugboard_server
):
    datasource_id = existing["/api/v1/datasources/{id}"]["id"]
    other = DataSourceFactory(tenant=globex.tenant)

    missing = _live(plugboard_server, acme, "POST",
                    f"/api/v1/datasources/{datasource_id}/bulk/?path=/x", data={"a": "b"})  # fmt: skip
    foreign = _live(plugboard_server, acme, "POST", f"/api/v1/datasources/{other.pk}/bulk/?path=/x",
                    files={"file": ("rows.csv", b"a\n1\n", "text/csv")})  # fmt: skip

    assert missing.status_code == 400 and foreign.status_code == 404
    for response in (missing, foreign):
        assert_error_body(response.json())
