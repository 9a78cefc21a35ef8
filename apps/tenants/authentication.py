from __future__ import annotations

from django.http import HttpRequest
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from apps.tenants.models import ApiKey
from apps.tenants.services import api_key_authenticate


class ApiKeyPrincipal:
    """The ``request.user`` of a request authenticated by an API key."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    pk = None
    id = None

    def __init__(self, api_key: ApiKey) -> None:
        self.api_key = api_key

    def __str__(self) -> str:
        return f"API key {self.api_key.name} ({self.api_key.display_prefix})"

    def get_username(self) -> str:
        return str(self)


def bearer_key(request: HttpRequest) -> str | None:
    """The key of a well-formed ``Authorization: Bearer <key>`` header, or None."""
    # From META: building request.headers would cost more than the options hot path's own work.
    parts = request.META.get("HTTP_AUTHORIZATION", "").split()
    if len(parts) == 2 and parts[0].lower() == "bearer" and parts[1].isascii():
        return parts[1]
    return None


class ApiKeyAuthentication(BaseAuthentication):
    """``Authorization: Bearer <api key>``."""

    def authenticate(self, request: Request) -> tuple[ApiKeyPrincipal, ApiKey] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != b"bearer":
            return None
        if len(parts) != 2:
            raise AuthenticationFailed("Send the key as 'Authorization: Bearer <api key>'.")
        try:
            raw = parts[1].decode("ascii")
        except UnicodeDecodeError as exc:
            raise AuthenticationFailed("The API key is not valid.") from exc
        key = api_key_authenticate(raw=raw)
        if key is None:
            raise AuthenticationFailed("The API key is not valid or has been revoked.")
        return ApiKeyPrincipal(key), key

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="plugboard"'
