"""The OpenAPI schema documents the contract's error body for the errors each operation can
answer, so that clients (and tests/fuzz/) can rely on it."""

import pytest
from drf_spectacular.generators import SchemaGenerator

ERROR = {"$ref": "#/components/schemas/Error"}


@pytest.fixture(scope="module")
def document():
    return SchemaGenerator().get_schema(request=None, public=True)


def operations(document):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in ("get", "post", "put", "patch", "delete"):
                yield method.upper(), path, operation


def test_the_error_body_is_a_component(document):
    error = document["components"]["schemas"]["Error"]
    detail = document["components"]["schemas"]["ErrorDetail"]

    assert error["required"] == ["error"]
    assert set(detail["required"]) == {"code", "message", "details"}


def test_every_operation_documents_its_errors_with_the_error_body(document):
    for method, path, operation in operations(document):
        responses = operation["responses"]
        if "default" in responses:  # the proxy: the upstream's answer, whatever its status
            assert path.startswith("/api/v1/proxy/")
            continue
        expected = {"401", "403", "404", "429"}
        if method in ("POST", "PUT", "PATCH"):
            expected |= {"400", "415", "503"}
        assert expected <= set(responses), (method, path, sorted(responses))
        for status, response in responses.items():
            if status >= "400":
                assert response["content"]["application/json"]["schema"] == ERROR, (
                    method, path, status,
                )  # fmt: skip


@pytest.mark.parametrize(
    ("method", "path", "statuses"),
    [
        ("GET", "/api/v1/items/{key}/options/", {"400", "409", "502", "504"}),
        ("POST", "/api/v1/datasources/{id}/events/poll/", {"409", "502", "504"}),
        ("POST", "/api/v1/events/{id}/redeliver/", {"409"}),
        ("POST", "/api/v1/bulk/{id}/cancel", {"409"}),
        ("GET", "/api/v1/bulk/{id}/result.csv", {"409", "410"}),
        ("POST", "/api/v1/datasources/{id}/bulk/", {"411", "413"}),
    ],
)
def test_operations_document_their_own_errors(document, method, path, statuses):
    assert statuses <= set(document["paths"][path][method.lower()]["responses"])
