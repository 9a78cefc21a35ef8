from __future__ import annotations

from django.core.exceptions import ValidationError

from apps.outbound.auth.base import AuthMode, FieldSpec
from apps.outbound.client import Credentials, OutboundRequest
from apps.outbound.headers import validate_header_name, validate_header_value


class ApiKeyAuth(AuthMode):
    name = "api_key"
    label = "API key"
    fields = (
        FieldSpec("name", "Header or parameter name", required=True, help="e.g. X-API-Key"),
        FieldSpec("value", "Key", secret=True, required=True),
        FieldSpec("in", "Send it in", choices=("header", "query"), default="header"),
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

    def describe(self, datasource) -> str:
        where = datasource.auth_config.get("in", "header")
        return f"API key in {where} {datasource.auth_config.get('name', '')}"

    def apply(self, datasource, request: OutboundRequest) -> Credentials:
        name = datasource.auth_config.get("name", "")
        value = datasource.secrets.get("value", "")
        if datasource.auth_config.get("in", "header") == "query":
            return Credentials(params=[(name, value)])
        return Credentials(headers={name: value})
