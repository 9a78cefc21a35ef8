from __future__ import annotations

import base64

from django.core.exceptions import ValidationError

from apps.outbound.auth.base import AuthMode, FieldSpec
from apps.outbound.client import Credentials, OutboundRequest


class BasicAuth(AuthMode):
    name = "basic"
    label = "Basic (user name and password)"
    fields = (
        FieldSpec("username", "User name", required=True),
        FieldSpec("password", "Password", secret=True, required=True),
    )
    example = {"mode": "basic", "username": "elements", "password": "connect"}

    def validate(self, config, secrets) -> None:
        super().validate(config, secrets)
        if ":" in (config.get("username") or ""):
            # Reference: https://datatracker.ietf.org/doc/html/rfc7617#section-2
            raise ValidationError({"username": "A user name for Basic auth cannot contain ':'."})

    def describe(self, datasource) -> str:
        return f"Basic auth as {datasource.auth_config.get('username', '')}"

    def apply(self, datasource, request: OutboundRequest) -> Credentials:
        username = datasource.auth_config.get("username", "")
        password = datasource.secrets.get("password", "")
        raw = f"{username}:{password}".encode()
        return Credentials(headers={"Authorization": "Basic " + base64.b64encode(raw).decode()})
