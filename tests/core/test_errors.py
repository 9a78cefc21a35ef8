"""Every API error has the contract's body: {"error": {"code", "message", "details"}}."""

import json

import pytest
from rest_framework.test import APIClient

pytestmark = pytest.mark.urls("tests.tenants.urls_probe")


def assert_error_body(response, status: int, code: str) -> dict:
    assert response.status_code == status
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert isinstance(body["error"]["details"], dict)
    return body["error"]


def test_unauthenticated(db):
    assert_error_body(APIClient().get("/api/v1/api-keys/"), 401, "not_authenticated")


def test_validation_error_names_the_field(acme):
    error = assert_error_body(
        acme.api().post("/api/v1/api-keys/", {"scope": "root"}, format="json"),
        400,
        "validation_error",
    )
    assert error["message"].startswith("scope:")
    assert error["details"]["fields"]["scope"][0]["code"] == "invalid_choice"


def test_malformed_json(acme):
    response = acme.api().post(
        "/api/v1/api-keys/", data="{not json", content_type="application/json"
    )
    assert_error_body(response, 400, "parse_error")


def test_unknown_api_path_is_a_json_404(db):
    assert_error_body(APIClient().get("/api/v1/nothing-here/"), 404, "not_found")


def test_method_not_allowed(acme):
    assert_error_body(
        acme.api().put(f"/api/v1/api-keys/{acme.admin_key.id}/", {}, format="json"),
        405,
        "method_not_allowed",
    )


def test_application_error_keeps_code_status_and_details(acme):
    error = assert_error_body(
        acme.api().get("/api/v1/probe/fail/?kind=app"), 504, "upstream_timeout"
    )
    assert error["details"] == {"s": 1}


def test_unexpected_exception_is_a_500_without_internals(acme):
    response = acme.api().get("/api/v1/probe/fail/")
    assert_error_body(response, 500, "server_error")
    assert "s3cr3t" not in response.content.decode()
    assert "RuntimeError" not in response.content.decode()


def test_a_lost_database_connection_is_a_503_the_client_may_retry(rf):
    from django.db import IntegrityError, OperationalError

    from apps.core.errors import api_exception_handler
    from apps.core.middleware import ApplicationErrorPageMiddleware

    response = api_exception_handler(OperationalError("server closed the connection"), {})
    assert response.status_code == 503 and response["Retry-After"] == "5"
    assert response.data["error"]["code"] == "database_unavailable"
    # An API path that skips DRF (the options and proxy fast ways, inbound events) alike.
    middleware = ApplicationErrorPageMiddleware(lambda request: None)
    answer = middleware.process_exception(rf.get("/api/v1/items/x/options/"),
                                          OperationalError("gone"))  # fmt: skip
    assert answer.status_code == 503
    assert json.loads(answer.content)["error"]["code"] == "database_unavailable"
    # A real error stays one.
    assert middleware.process_exception(rf.get("/api/v1/x"), IntegrityError("dup")) is None
