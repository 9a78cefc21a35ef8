from __future__ import annotations

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


class ApiKeyAuthentication(BaseAuthentication):
    """``Authorization: Bearer <api key>``."""

    @staticmethod
    def raw_key(request: Request) -> str | None:
        parts = get_authorization_header(request).split()
        if len(parts) == 2 and parts[0].lower() == b"bearer":
            try:
                return parts[1].decode("ascii")
            except UnicodeDecodeError:
                return None
        return None

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
        view = (getattr(request, "parser_context", None) or {}).get("view")
        # A view that reads the key's stamp itself (in a round trip it makes anyway) may take a
        # remembered key unchecked; every other view gets a checked one.
        key = api_key_authenticate(raw=raw, verify=not getattr(view, "checks_key_stamp", False))
        if key is None:
            raise AuthenticationFailed("The API key is not valid or has been revoked.")
        return ApiKeyPrincipal(key), key

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="plugboard"'
