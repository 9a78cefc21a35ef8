"""The interface every auth mode implements, and the description of its settings.

A mode is one module with one class (registered in ``__init__``). Its settings are declared as
:class:`FieldSpec` s — name, kind, secret or not, required, choices, help — and everything that
shows or takes them is derived from that declaration: the API's serializers and OpenAPI schema,
the configure form, the read representation, which settings send secrets to other hosts, and
which ones make stored tokens meaningless when they change.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar

from django.core.exceptions import ValidationError

from apps.outbound.client import Credentials, OutboundResponse
from apps.outbound.connection import Connection
from apps.outbound.paths import get_path
from apps.outbound.policy import is_absolute_url


class Kind(StrEnum):
    TEXT = "text"  # one line
    LONG_TEXT = "long_text"  # several lines (a body template)
    URL = "url"  # an absolute https URL
    CHOICE = "choice"
    SECRET = "secret"  # write-only text, stored encrypted
    OBJECT = "object"  # nested settings (``FieldSpec.fields``); null removes them
    HEADERS = "headers"  # [{"name", "value"}]
    INTEGERS = "integers"  # a list of whole numbers
    TEXTS = "texts"  # a list of texts


@dataclass(frozen=True, eq=False)  # compared and hashed by identity: each spec is one setting
class FieldSpec:
    """One setting of an auth mode."""

    name: str
    label: str
    kind: Kind = Kind.TEXT
    required: bool = False
    choices: tuple[tuple[str, str], ...] = ()  # (value, label)
    default: Any = None
    help: str = ""
    placeholder: str = ""
    fields: tuple[FieldSpec, ...] = ()  # of an OBJECT
    # An absolute URL here receives the mode's secrets: they must not follow it to a new host.
    sends_secrets: bool = False
    # Whether a change makes stored tokens meaningless (they were obtained with the old value).
    affects_token: bool = True
    # A format check of one value (raises ValidationError with a sentence).
    check: Callable[[Any], None] | None = None

    @property
    def secret(self) -> bool:
        return self.kind is Kind.SECRET

    @property
    def choice_values(self) -> tuple[str, ...]:
        return tuple(value for value, _ in self.choices)


def walk(fields: tuple[FieldSpec, ...], prefix: str = "") -> Iterator[tuple[str, FieldSpec]]:
    """(dotted path, spec) of every setting, objects and what they hold included."""
    for spec in fields:
        path = f"{prefix}{spec.name}"
        yield path, spec
        if spec.kind is Kind.OBJECT:
            yield from walk(spec.fields, f"{path}.")


def _check_status_codes(value: Any) -> None:
    if not all(isinstance(code, int) and 400 <= code <= 599 for code in value or []):
        raise ValidationError("Give 4xx or 5xx status codes.")


# Every token-bearing mode says when the upstream means "your token expired".
EXPIRED_WHEN = FieldSpec(
    "expired_when",
    "When is a token expired?",
    kind=Kind.OBJECT,
    affects_token=False,
    default={"status_codes": [401]},  # always in effect (no checkbox switches it on)
    help="Any listed status, or a listed value at the body path of a JSON answer, means the "
    "token expired: it is refreshed once and the call retried.",
    fields=(
        FieldSpec("status_codes", "Expired when the status is", kind=Kind.INTEGERS,
                  default=[401], check=_check_status_codes, affects_token=False),
        FieldSpec("body_path", "…or when the JSON body at", affects_token=False,
                  placeholder="error.code"),
        FieldSpec("body_values", "has one of", kind=Kind.TEXTS, affects_token=False,
                  placeholder="token_expired"),
    ),
)  # fmt: skip


@dataclass
class TokenResult:
    """What a token endpoint answered."""

    access_token: str
    refresh_token: str | None = None
    expires_at: datetime | None = None
    token_type: str = ""
    extra: dict[str, Any] | None = None


@dataclass(frozen=True)
class StoredToken:
    """The token a connection holds now (see ``tokens.TokenStore``)."""

    access_token: str | None
    refresh_token: str | None = None
    expires_at: datetime | None = None
    obtained_at: datetime | None = None


class AuthMode:
    name: ClassVar[str]
    label: ClassVar[str]
    fields: ClassVar[tuple[FieldSpec, ...]] = ()
    token_bearing: ClassVar[bool] = False
    # Needs a person to grant access in a browser (the authorization-code flow).
    interactive: ClassVar[bool] = False
    example: ClassVar[dict[str, Any]] = {}

    # --- settings ---------------------------------------------------------------------------

    @classmethod
    def all_fields(cls) -> tuple[FieldSpec, ...]:
        return (*cls.fields, EXPIRED_WHEN) if cls.token_bearing else cls.fields

    @classmethod
    def secret_paths(cls) -> tuple[str, ...]:
        return tuple(path for path, spec in walk(cls.all_fields()) if spec.secret)

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        """Top-level settings with a default, so that a read shows what is in effect."""
        return {
            spec.name: spec.default
            for spec in cls.all_fields()
            if spec.default is not None and spec.kind is not Kind.OBJECT and not spec.secret
        }

    @classmethod
    def token_relevant(cls, config: Mapping[str, Any]) -> dict[str, Any]:
        """The part of ``config`` whose change makes stored tokens meaningless."""
        return {
            spec.name: config.get(spec.name)
            for spec in cls.all_fields()
            if spec.affects_token and not spec.secret
        }

    def secret_destinations(self, config: Mapping[str, Any]) -> list[str]:
        """Absolute URLs besides the base URL that receive this mode's secrets."""
        urls = []
        for path, spec in walk(self.all_fields()):
            value = get_path(config, path) if spec.sends_secrets else None
            if isinstance(value, str) and is_absolute_url(value):
                urls.append(value)
        return urls

    def normalize(self, config: dict[str, Any]) -> dict[str, Any]:
        """Drop settings that the others make meaningless (after a write is merged)."""
        return config

    def validate(self, config: Mapping[str, Any], secrets: Mapping[str, Any]) -> None:
        """Raise ValidationError naming each missing or invalid setting (dotted paths)."""
        errors: dict[str, list[str]] = {}
        for path, spec in walk(self.all_fields()):
            parent = path.rpartition(".")[0]
            if parent and not get_path(config, parent):
                continue  # an optional object that is absent: its settings do not apply
            value = secrets.get(path) if spec.secret else get_path(config, path)
            if spec.required and value in (None, "", [], {}):
                errors.setdefault(path, []).append(f"{spec.label} is required.")
            elif spec.choices and value not in (None, "") and value not in spec.choice_values:
                errors.setdefault(path, []).append(
                    f"{spec.label} must be one of: {', '.join(spec.choice_values)}."
                )
        if errors:
            raise ValidationError(errors)

    def describe(self, config: Mapping[str, Any]) -> str:
        return self.label

    # --- requests ---------------------------------------------------------------------------

    def apply(self, connection: Connection) -> Credentials:
        """The credentials to add to a request (non-token modes)."""
        return Credentials()

    # --- tokens (token-bearing modes) -------------------------------------------------------

    def can_refresh(self, connection: Connection, stored: StoredToken | None) -> bool:
        return False

    def static_token(self, connection: Connection) -> str | None:
        """A token configured by hand, used when no refreshed one is stored."""
        return None

    def fetch_token(self, connection: Connection, stored: StoredToken | None) -> TokenResult:
        raise NotImplementedError

    def token_credentials(self, connection: Connection, token: str) -> Credentials:
        return Credentials(headers={"Authorization": f"Bearer {token}"}, token=token)

    def is_expired(self, connection: Connection, response: OutboundResponse) -> bool:
        """Whether the upstream says the token expired (``expired_when``)."""
        rule = connection.auth_config.get("expired_when") or {}
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
