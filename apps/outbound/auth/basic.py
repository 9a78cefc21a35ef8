from __future__ import annotations

import base64

from django.core.exceptions import ValidationError

from apps.outbound.auth.base import AuthMode, FieldSpec, Kind
from apps.outbound.client import Credentials


def _no_colon(value: str) -> None:
    if ":" in (value or ""):
        # Reference: https://datatracker.ietf.org/doc/html/rfc7617#section-2
        raise ValidationError("A user name for Basic auth cannot contain ':'.")


class BasicAuth(AuthMode):
    name = "basic"
    label = "Basic (user name and password)"
    fields = (
        FieldSpec("username", "User name", required=True, check=_no_colon),
        FieldSpec("password", "Password", kind=Kind.SECRET, required=True),
    )
    example = {"mode": "basic", "username": "elements", "password": "connect"}

    def describe(self, config) -> str:
        return f"Basic auth as {config.get('username', '')}"

    def apply(self, connection) -> Credentials:
        username = connection.auth_config.get("username", "")
        password = connection.secrets.get("password", "")
        raw = f"{username}:{password}".encode()
        return Credentials(headers={"Authorization": "Basic " + base64.b64encode(raw).decode()})
