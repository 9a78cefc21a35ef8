from __future__ import annotations

from django.core.exceptions import ValidationError

from apps.outbound.auth.base import AuthMode, FieldSpec, Kind
from apps.outbound.client import Credentials
from apps.outbound.headers import validate_header_name, validate_header_value

PLACES = (("header", "Header"), ("query", "Query parameter"))


class ApiKeyAuth(AuthMode):
    name = "api_key"
    label = "API key"
    fields = (
        FieldSpec("name", "Header or parameter name", required=True, placeholder="X-API-Key"),
        FieldSpec("value", "Key", kind=Kind.SECRET, required=True),
        FieldSpec("in", "Send it in", kind=Kind.CHOICE, choices=PLACES, default="header"),
    )
    example = {"mode": "api_key", "name": "X-API-Key", "value": "s3cr3t", "in": "header"}

    def validate(self, config, secrets) -> None:
        super().validate(config, secrets)
        if config.get("in", "header") == "header":
            try:
                validate_header_name(config.get("name", ""), allow_authorization=True)
            except ValidationError as exc:
                raise ValidationError({"name": exc.messages}) from exc
            if secrets.get("value"):
                try:
                    validate_header_value(secrets["value"], what="The key")
                except ValidationError as exc:
                    raise ValidationError({"value": exc.messages}) from exc

    def describe(self, config) -> str:
        return f"API key in {config.get('in', 'header')} {config.get('name', '')}"

    def apply(self, connection) -> Credentials:
        name = connection.auth_config.get("name", "")
        value = connection.secrets.get("value", "")
        if connection.auth_config.get("in", "header") == "query":
            return Credentials(params=[(name, value)])
        return Credentials(headers={name: value})
