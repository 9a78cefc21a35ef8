"""What a client writes to a data source, validated once: the API and the configure page both
feed their data through :class:`DataSourceSerializer`, then hand the validated values to the
services. Reads have the same shape (secrets aside), which is also the OpenAPI schema."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import URLValidator
from django.utils.text import slugify
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.utils import PolymorphicProxySerializer
from rest_framework import serializers

from apps.core.codes import ErrorCode
from apps.core.errors import flatten_validation
from apps.core.payloads import json_object
from apps.core.serializers import StrictSerializer
from apps.datasources.auth_settings import AuthField, HeaderSerializer, auth_serializers
from apps.datasources.event_settings import EventsField, EventsSerializer
from apps.datasources.models import Status
from apps.outbound.destinations import validate_https_url
from apps.outbound.headers import MAX_HEADERS, validate_header_value
from apps.outbound.policy import relative_path_problem

PING_METHODS = ("GET", "HEAD", "POST")
MIN_TIMEOUT, MAX_TIMEOUT, DEFAULT_TIMEOUT = 1, 60, 60
DEFAULT_BULK_CONCURRENCY = 4


def max_bulk_concurrency() -> int:
    return int(settings.BULK_MAX_CONCURRENCY)


def _relative_path(value: str) -> None:
    problem = relative_path_problem(value or "")
    if problem:
        raise serializers.ValidationError(problem)


class DataSourceHeaderSerializer(HeaderSerializer):
    """A custom header: not for secrets (shown in full); forbidden names refused."""

    def validate_name(self, value: str) -> str:
        from apps.outbound.headers import validate_header_name

        validate_header_name(value)
        return value

    def validate_value(self, value: str) -> str:
        validate_header_value(value)
        return value


class HeaderListField(serializers.ListField):
    """Custom headers; a problem is reported on ``headers`` with its sentence and code."""

    child = DataSourceHeaderSerializer()

    def to_internal_value(self, data: Any) -> list[dict[str, str]]:
        if data in (None, ""):
            return []
        if isinstance(data, list) and len(data) > MAX_HEADERS:
            raise serializers.ValidationError(
                f"At most {MAX_HEADERS} headers are allowed.", code=ErrorCode.TOO_MANY_HEADERS
            )
        try:
            headers = [dict(h) for h in super().to_internal_value(data)]
        except serializers.ValidationError as exc:
            problems = flatten_validation(exc.detail)
            raise serializers.ValidationError(
                [serializers.ErrorDetail(message, code=code) for _, code, message in problems]
            ) from None
        seen: set[str] = set()
        for header in headers:
            if header["name"].lower() in seen:
                raise serializers.ValidationError(
                    f"The header {header['name']} is listed twice.", code=ErrorCode.DUPLICATE_HEADER
                )
            seen.add(header["name"].lower())
        return headers


class PingSerializer(StrictSerializer):
    """How "Test connection" decides success."""

    method = serializers.ChoiceField(choices=PING_METHODS, default="GET")
    path = serializers.CharField(
        allow_blank=True, required=False, default="", validators=[_relative_path],
        help_text="Relative to base_url; empty: the health check path, else the base URL.",
    )  # fmt: skip
    success_path = serializers.CharField(
        allow_blank=True, required=False, default="",
        help_text="Dotted path into the JSON answer whose value must be one of success_values.",
    )  # fmt: skip
    success_values = serializers.ListField(
        child=serializers.CharField(allow_blank=True), required=False, default=list
    )

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if isinstance(data, dict) and isinstance(data.get("method"), str):
            data = {**data, "method": data["method"].upper()}
        return dict(super().to_internal_value(data))


class TimeoutField(serializers.IntegerField):
    def to_internal_value(self, data: Any) -> int:
        value = super().to_internal_value(data)
        if not MIN_TIMEOUT <= value <= MAX_TIMEOUT:
            raise serializers.ValidationError(
                f"The timeout is {MIN_TIMEOUT} to {MAX_TIMEOUT} seconds.", code=ErrorCode.INVALID
            )
        return value

    def run_validators(self, value: Any) -> None:
        return None  # the range is checked above, with the contract's code


def _https_base_url(value: str) -> str:
    try:
        validate_https_url(value)
    except DjangoValidationError as exc:
        raise serializers.ValidationError(exc.messages[0], code=exc.error_list[0].code) from None
    parts = urlsplit(value)
    if parts.query or parts.fragment:
        raise serializers.ValidationError("The base URL may not have a query or fragment.")
    return value


class DataSourceSerializer(StrictSerializer):
    """A REST API data source. Secrets are write-only: a read lists them in
    ``auth.secrets_set``. On PATCH an omitted secret keeps its value and null clears it."""

    id = serializers.UUIDField(read_only=True)
    name = serializers.CharField(max_length=200)
    type = serializers.ChoiceField(choices=["rest"], required=False, default="rest")
    slug = serializers.CharField(
        max_length=100, required=False, allow_blank=True,
        help_text="Unique within the tenant; names the data source in proxy paths. Defaults to "
        "a slug of the name.",
    )  # fmt: skip
    base_url = serializers.CharField(max_length=2000, help_text="https:// only.")
    docs_url = serializers.CharField(max_length=2000, required=False, allow_blank=True)
    health_check_path = serializers.CharField(
        max_length=500, required=False, allow_blank=True, validators=[_relative_path]
    )
    timeout_seconds = TimeoutField(
        min_value=MIN_TIMEOUT, max_value=MAX_TIMEOUT, required=False,
        help_text="Bounds each whole call: connect, TLS and every read.",
    )  # fmt: skip
    headers = HeaderListField(required=False, help_text="At most 20; not for secrets.")
    bulk_concurrency = serializers.IntegerField(
        required=False, help_text="Requests a bulk job keeps in flight at once: 1 to the "
        "server's cap (BULK_MAX_CONCURRENCY, 16 unless set), default 4.",
    )  # fmt: skip
    auth = AuthField(required=False)
    ping = PingSerializer(required=False)
    events = EventsField(required=False)
    status = serializers.ChoiceField(choices=Status.choices, read_only=True)
    last_error = serializers.CharField(read_only=True, allow_null=True)
    last_tested_at = serializers.DateTimeField(read_only=True, allow_null=True)
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)

    def validate_name(self, value: str) -> str:
        value = value.strip()
        if not value:
            raise serializers.ValidationError(
                "Give the data source a name.", code=ErrorCode.REQUIRED
            )
        return value

    def validate_slug(self, value: str) -> str:
        if value and slugify(value) != value:
            raise serializers.ValidationError(
                "Use lowercase letters, digits and hyphens.", code=ErrorCode.INVALID_SLUG
            )
        return value

    def validate_base_url(self, value: str) -> str:
        return _https_base_url(value.strip()).rstrip("/")

    def validate_docs_url(self, value: str) -> str:
        value = value.strip()
        if value:
            try:
                URLValidator(schemes=["https", "http"])(value)
            except DjangoValidationError:
                raise serializers.ValidationError("Give a full http(s) link.") from None
        return value

    def validate_health_check_path(self, value: str) -> str:
        return value.strip()

    def validate_bulk_concurrency(self, value: int) -> int:
        cap = max_bulk_concurrency()
        if not 1 <= value <= cap:
            raise serializers.ValidationError(
                f"A bulk job keeps 1 to {cap} requests in flight on this server.",
                code=ErrorCode.INVALID,
            )
        return value


def datasource_input(
    data: Any, *, auth_mode: str | None = None, partial: bool = False
) -> dict[str, Any]:
    """Validate what a client wrote (the API body or the configure page's fields, in the same
    shape); raises DRF's ValidationError naming each field. ``auth_mode`` is the stored mode
    (what a PATCH without ``auth.mode`` means)."""
    serializer = DataSourceSerializer(
        data=json_object(data), partial=partial, context={"auth_mode": auth_mode}
    )
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class AuthFieldSchema(OpenApiSerializerFieldExtension):
    """``auth`` in the OpenAPI schema: one of the registered modes' shapes, told by ``mode``."""

    target_class = "apps.datasources.auth_settings.AuthField"

    def map_serializer_field(self, auto_schema: Any, direction: Any) -> dict:
        proxy = PolymorphicProxySerializer(
            component_name="Auth",
            serializers=auth_serializers(),
            resource_type_field_name="mode",
        )
        return auto_schema.resolve_serializer(proxy, direction).ref


class EventsFieldSchema(OpenApiSerializerFieldExtension):
    """``events`` in the OpenAPI schema."""

    target_class = "apps.datasources.event_settings.EventsField"

    def map_serializer_field(self, auto_schema: Any, direction: Any) -> dict:
        return auto_schema.resolve_serializer(EventsSerializer, direction).ref
