"""What the schema fuzzing (tests/fuzz/) found in the items API: a form-encoded body, which the
API parses and its schema offers, and a field of the wrong JSON type were server errors."""

import pytest

from tests.factories import DataSourceFactory


@pytest.fixture
def source(acme):
    return DataSourceFactory(tenant=acme.tenant)


def test_a_form_encoded_item_is_read_as_strings(acme, source):
    response = acme.api().post(
        "/api/v1/items/",
        f"key=issue&name=Issue&datasource={source.pk}&method=get&path=/issues&value={{id}}"
        "&label={name}",
        content_type="application/x-www-form-urlencoded",
    )

    assert response.status_code == 201, response.content
    assert response.json()["method"] == "GET" and response.json()["key"] == "issue"


def test_a_form_encoded_item_with_bad_values_is_a_validation_error(acme, source):
    response = acme.api().post(
        "/api/v1/items/",
        "key=x&name=n&datasource=195e7335-e2b0-5828-a862-253942f75656&method=POST&value=v&label=l",
        content_type="application/x-www-form-urlencoded",
    )

    assert response.status_code == 400
    assert response.json()["error"]["details"]["fields"]["datasource"][0]["code"] == (
        "does_not_exist"
    )


@pytest.mark.parametrize("field", ["key", "name", "method", "path", "body", "value", "label"])
@pytest.mark.parametrize("value", [1, ["GET"], {"a": "b"}, True])
def test_an_item_field_that_is_not_text_is_refused_by_name(acme, source, field, value):
    data = {"key": "k", "name": "n", "datasource": str(source.pk), "value": "{id}",
            "label": "{name}", field: value}  # fmt: skip

    response = acme.api().post("/api/v1/items/", data, format="json")

    assert response.status_code == 400, response.content
    assert response.json()["error"]["details"]["fields"][field] == [
        {"code": "invalid", "message": "Must be a string."}
    ]
