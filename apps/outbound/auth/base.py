"""The interface every auth mode implements (one module per mode, registered in ``__init__``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from django.core.exceptions import ValidationError

from apps.outbound.client import Credentials, OutboundRequest, OutboundResponse
from apps.outbound.paths import get_path

if TYPE_CHECKING:
    from apps.datasources.models import DataSource, TokenState


@dataclass(frozen=True)
class FieldSpec:
    """One setting of an auth mode, as the API, the wizard and the schema show it."""

    name: str
    label: str
    secret: bool = False
    required: bool = False
    choices: tuple[str, ...] = ()
    default: Any = None
    help: str = ""


@dataclass
class TokenResult:
    access_token: str
    refresh_token: str | None = None
    expires_at: datetime | None = None
    token_type: str = ""
    extra: dict[str, Any] | None = None


class AuthMode:
    name: ClassVar[str]
    label: ClassVar[str]
    fields: ClassVar[tuple[FieldSpec, ...]] = ()
    token_bearing: ClassVar[bool] = False
    example: ClassVar[dict[str, Any]] = {}

    @classmethod
    def secret_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in cls.fields if f.secret)

    @classmethod
    def config_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in cls.fields if not f.secret)

    # --- configuration ---------------------------------------------------------------------

    def validate(self, config: dict[str, Any], secrets: dict[str, Any]) -> None:
        """Raise ValidationError naming each missing or invalid field."""
        errors: dict[str, list[str]] = {}
        for spec in self.fields:
            value = (secrets if spec.secret else config).get(spec.name)
            if spec.required and value in (None, ""):
                errors.setdefault(spec.name, []).append(f"{spec.label} is required.")
            if spec.choices and value not in (None, "") and value not in spec.choices:
                errors.setdefault(spec.name, []).append(
                    f"{spec.label} must be one of: {', '.join(spec.choices)}."
                )
        if errors:
            raise ValidationError(errors)

    def secret_hosts(self, config: dict[str, Any]) -> list[str]:
        """URLs besides the base URL that receive this mode's secrets."""
        return []

    def describe(self, datasource: DataSource) -> str:
        return self.label

    # --- requests --------------------------------------------------------------------------

    def apply(self, datasource: DataSource, request: OutboundRequest) -> Credentials:
        """The credentials to add to ``request`` (headers and query parameters)."""
        return Credentials()

    # --- tokens (token-bearing modes) ------------------------------------------------------

    def can_refresh(self, datasource: DataSource, state: TokenState | None) -> bool:
        return False

    def static_token(self, datasource: DataSource) -> str | None:
        """A token configured by hand, used when no refreshed one is stored."""
        return None

    def fetch_token(self, datasource: DataSource, state: TokenState | None) -> TokenResult:
        raise NotImplementedError

    def token_credentials(self, datasource: DataSource, token: str) -> Credentials:
        return Credentials(headers={"Authorization": f"Bearer {token}"}, token=token)

    def is_expired(self, datasource: DataSource, response: OutboundResponse) -> bool:
        """Whether the upstream says the token expired (``auth_config.expired_when``)."""
        rule = datasource.auth_config.get("expired_when") or {}
        statuses = rule.get("status_codes") or [401]
        if response.status_code in statuses:
            return True
        body_path = rule.get("body_path")
        values = [str(v) for v in rule.get("body_values") or []]
        if body_path and values and "json" in response.content_type.lower():
            try:
                document = response.json()
            except Exception:
                return False
            found = get_path(document, body_path)
            return found is not None and str(found) in values
        return False


def validate_expired_when(value: Any) -> None:
    if value in (None, {}):
        return
    if not isinstance(value, dict):
        raise ValidationError({"expired_when": "Must be an object."})
    statuses = value.get("status_codes", [401])
    if not isinstance(statuses, list) or not all(
        isinstance(s, int) and 400 <= s <= 599 for s in statuses
    ):
        raise ValidationError({"expired_when": "status_codes must be a list of 4xx/5xx codes."})
    if value.get("body_values") is not None and not isinstance(value["body_values"], list):
        raise ValidationError({"expired_when": "body_values must be a list."})
