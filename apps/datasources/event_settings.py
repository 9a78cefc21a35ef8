"""A data source's ``events`` settings: where its events are delivered and with which key they are
signed, how inbound webhooks are checked, and how an API without webhooks is polled.

They are data source settings like ``auth`` (written and read in the same body, validated once
here, secrets write-only and encrypted apart from the plain settings); the events app runs them.
"""

from __future__ import annotations

import base64
import binascii
import copy
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from apps.core.codes import ErrorCode
from apps.core.crypto import DecryptionError
from apps.core.serializers import StrictSerializer
from apps.outbound.destinations import validate_destination
from apps.outbound.errors import SecretsUnreadable
from apps.outbound.headers import validate_header_name
from apps.outbound.policy import relative_path_problem

SCHEMES = ("hmac_sha256", "standard_webhooks")
DEFAULT_SCHEME = "hmac_sha256"
# The header a scheme reads its signature from unless told otherwise.
SCHEME_HEADERS = {"hmac_sha256": "X-Hub-Signature-256", "standard_webhooks": "webhook-signature"}
SECRET_NAMES = ("signature_key", "inbound_secret")
KEY_PREFIX = "whsec_"
KEY_MIN_BYTES, KEY_MAX_BYTES, KEY_NEW_BYTES = 24, 64, 32
MIN_POLL_INTERVAL, MAX_POLL_INTERVAL, DEFAULT_POLL_INTERVAL = 60, 86400, 300
SINCE = "{since}"


def new_signature_key() -> str:
    """A fresh ``whsec_`` key: 32 random bytes, base64."""
    return KEY_PREFIX + base64.b64encode(secrets.token_bytes(KEY_NEW_BYTES)).decode()


def signature_key_problem(value: str) -> str | None:
    """Why ``value`` is not a ``whsec_`` base64 secret of 24 to 64 bytes, or None."""
    if not value.startswith(KEY_PREFIX):
        return f"A signature key starts with {KEY_PREFIX} followed by base64 (use Generate)."
    encoded = value[len(KEY_PREFIX) :]
    try:
        raw = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        return f"What follows {KEY_PREFIX} must be base64."
    if not KEY_MIN_BYTES <= len(raw) <= KEY_MAX_BYTES:
        return f"The key holds {len(raw)} bytes; it must hold {KEY_MIN_BYTES} to {KEY_MAX_BYTES}."
    return None


@dataclass(frozen=True)
class PollSettings:
    enabled: bool = False
    path: str = ""
    interval_seconds: int = DEFAULT_POLL_INTERVAL
    results_path: str = ""
    id_path: str = "id"
    updated_path: str = ""


@dataclass(frozen=True)
class EventSettings:
    """What the events app needs to know of a data source, secrets included."""

    enabled: bool = False
    callback_url: str | None = None
    signature_key: str | None = None
    inbound_secret: str | None = None
    inbound_signature_header: str = SCHEME_HEADERS[DEFAULT_SCHEME]
    inbound_signature_scheme: str = DEFAULT_SCHEME
    poll: PollSettings = field(default_factory=PollSettings)

    @property
    def delivers(self) -> bool:
        """Whether recorded events are delivered."""
        return bool(self.enabled and self.callback_url and self.signature_key)


def event_settings_of(config: Mapping[str, Any], stored: Mapping[str, str]) -> EventSettings:
    poll = dict(config.get("poll") or {})
    return EventSettings(
        enabled=bool(config.get("enabled")),
        callback_url=config.get("callback_url") or None,
        signature_key=stored.get("signature_key") or None,
        inbound_secret=stored.get("inbound_secret") or None,
        inbound_signature_header=config.get("inbound_signature_header")
        or SCHEME_HEADERS[config.get("inbound_signature_scheme") or DEFAULT_SCHEME],
        inbound_signature_scheme=config.get("inbound_signature_scheme") or DEFAULT_SCHEME,
        poll=PollSettings(**{k: v for k, v in poll.items() if k in PollSettings.__annotations__}),
    )


def events_of(datasource: Any) -> EventSettings:
    """A data source's events settings with their secrets; SecretsUnreadable when no
    configured key decrypts them."""
    try:
        stored = dict(datasource.event_secrets or {})
    except DecryptionError:
        raise SecretsUnreadable(
            "The data source's signing and inbound secrets cannot be decrypted with the "
            "configured keys; an admin must enter them again."
        ) from None
    return event_settings_of(datasource.events_config or {}, stored)


# --- what a client writes -----------------------------------------------------------------


def _check(problem: str | None) -> None:
    if problem:
        raise serializers.ValidationError(problem)


class PollSerializer(StrictSerializer):
    """Polling an API without webhooks: the records at ``results_path`` whose ``updated_path``
    value is newer than the last poll's become events."""

    enabled = serializers.BooleanField(required=False)
    path = serializers.CharField(
        max_length=2000, required=False, allow_blank=True,
        help_text="Relative to base_url; {since} becomes the last watermark (ISO 8601, "
        "URL-encoded), e.g. /search?jql=updated>={since}.",
    )  # fmt: skip
    interval_seconds = serializers.IntegerField(
        required=False, min_value=MIN_POLL_INTERVAL, max_value=MAX_POLL_INTERVAL,
        help_text=f"At least {MIN_POLL_INTERVAL}.",
    )  # fmt: skip
    results_path = serializers.CharField(
        max_length=200, required=False, allow_blank=True,
        help_text="Dotted path to the list of records; empty: the answer is the list.",
    )  # fmt: skip
    id_path = serializers.CharField(max_length=200, required=False, allow_blank=True)
    updated_path = serializers.CharField(
        max_length=200, required=False, allow_blank=True,
        help_text="Dotted path to each record's last-updated time (ISO 8601 or epoch seconds).",
    )  # fmt: skip

    def validate_path(self, value: str) -> str:
        value = value.strip()
        _check(relative_path_problem(value.replace(SINCE, "x")))
        return value


class EventsSerializer(StrictSerializer):
    """Events of a data source. ``signature_key`` and ``inbound_secret`` are write-only (a read
    lists the stored ones in ``secrets_set``); on PATCH an omitted one keeps its value and null
    clears it."""

    enabled = serializers.BooleanField(
        required=False, help_text="Deliver every recorded event to callback_url."
    )
    callback_url = serializers.CharField(
        max_length=2000, required=False, allow_null=True, allow_blank=True,
        help_text="https:// only; obeys the outbound policy.",
    )  # fmt: skip
    signature_key = serializers.CharField(
        write_only=True, required=False, allow_null=True, allow_blank=True,
        trim_whitespace=True,
        help_text=f"{KEY_PREFIX} followed by base64 of {KEY_MIN_BYTES} to {KEY_MAX_BYTES} bytes; "
        "deliveries are signed with it (Standard Webhooks).",
    )  # fmt: skip
    inbound_secret = serializers.CharField(
        write_only=True, required=False, allow_null=True, allow_blank=True,
        trim_whitespace=False, max_length=500,
        help_text="When set, inbound requests must carry a valid signature.",
    )  # fmt: skip
    inbound_signature_header = serializers.CharField(
        max_length=100, required=False, allow_blank=True,
        help_text="Where hmac_sha256 signatures are read (default X-Hub-Signature-256).",
    )  # fmt: skip
    inbound_signature_scheme = serializers.ChoiceField(choices=list(SCHEMES), required=False)
    poll = PollSerializer(required=False, allow_null=True)
    inbound_url = serializers.CharField(
        read_only=True, allow_null=True,
        help_text="POST events here; the URL itself is the credential (null for viewers).",
    )  # fmt: skip
    secrets_set = serializers.ListField(child=serializers.CharField(), read_only=True)

    def validate_callback_url(self, value: str | None) -> str | None:
        value = (value or "").strip()
        if not value:
            return None
        try:
            validate_destination(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(
                exc.messages[0], code=exc.error_list[0].code
            ) from None
        return value

    def validate_signature_key(self, value: str | None) -> str | None:
        if not value:
            return None
        _check(signature_key_problem(value))
        return value

    def validate_inbound_signature_header(self, value: str) -> str:
        value = value.strip()
        if value:
            try:
                validate_header_name(value, allow_authorization=True)
            except DjangoValidationError as exc:
                raise serializers.ValidationError(exc.messages[0]) from None
        return value

    def to_internal_value(self, data: Any) -> EventsInput:
        values = dict(super().to_internal_value(data))
        found = EventsInput()
        for name, value in values.items():
            if name in SECRET_NAMES:
                found.secrets[name] = value or None
            elif name == "poll":
                found.config["poll"] = dict(value) if value is not None else None
            else:
                found.config[name] = value
        return found


class EventsField(serializers.Field):
    """``events`` in a data source body (the serializer above validates it)."""

    def to_internal_value(self, data: Any) -> EventsInput:
        if not isinstance(data, dict):
            raise serializers.ValidationError("events must be an object.")
        serializer = EventsSerializer(data=data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    def to_representation(self, value: Any) -> Any:
        return value


@dataclass
class EventsInput:
    """What a client wrote under ``events``: settings, and secrets it sent (None clears)."""

    config: dict[str, Any] = field(default_factory=dict)
    secrets: dict[str, str | None] = field(default_factory=dict)


# --- merging and checking -----------------------------------------------------------------


def events_merge(
    old_config: Mapping[str, Any], old_secrets: Mapping[str, str], given: EventsInput
) -> tuple[dict[str, Any], dict[str, str]]:
    """The settings after ``given`` is written: what was not sent is kept (``poll`` key by
    key); null clears a setting or a secret."""
    config = copy.deepcopy(dict(old_config))
    stored = dict(old_secrets)
    for name, value in given.config.items():
        if value is None:
            config.pop(name, None)
        elif name == "poll":
            config["poll"] = {**(config.get("poll") or {}), **value}
        else:
            config[name] = value
    for name, value in given.secrets.items():
        if value:
            stored[name] = value
        else:
            stored.pop(name, None)
    poll = config.get("poll")
    if poll is not None:
        config["poll"] = {
            "enabled": bool(poll.get("enabled")),
            "path": poll.get("path") or "",
            "interval_seconds": poll.get("interval_seconds") or DEFAULT_POLL_INTERVAL,
            "results_path": poll.get("results_path") or "",
            "id_path": poll.get("id_path") if poll.get("id_path") is not None else "id",
            "updated_path": poll.get("updated_path") or "",
        }
    return events_canonical(config), stored


def events_canonical(config: Mapping[str, Any]) -> dict[str, Any]:
    """``config`` without what a read shows as a default (so that writing back what was read
    stores nothing new): delivery off, no callback URL, the default scheme, a scheme's own
    header (the header then follows the scheme)."""
    canonical = copy.deepcopy(dict(config))
    if not canonical.get("enabled"):
        canonical.pop("enabled", None)
    if not canonical.get("callback_url"):
        canonical.pop("callback_url", None)
    if canonical.get("inbound_signature_scheme") in (None, "", DEFAULT_SCHEME):
        canonical.pop("inbound_signature_scheme", None)
    if canonical.get("inbound_signature_header") in (None, "", *SCHEME_HEADERS.values()):
        canonical.pop("inbound_signature_header", None)
    if not canonical.get("poll"):
        canonical.pop("poll", None)
    return canonical


def events_validate(config: Mapping[str, Any], stored: Mapping[str, str]) -> None:
    """Checks of complete settings; errors are named ``events.<setting>``."""
    errors: dict[str, str] = {}
    settings = event_settings_of(config, stored)
    if settings.enabled:
        if not settings.callback_url:
            errors["events.callback_url"] = "Deliveries need a callback URL."
        if not settings.signature_key:
            errors["events.signature_key"] = "Deliveries need a signature key (use Generate)."
    if settings.inbound_secret and settings.inbound_signature_scheme == "standard_webhooks":
        problem = signature_key_problem(settings.inbound_secret)
        if problem:
            errors["events.inbound_secret"] = f"With standard_webhooks: {problem}"
    poll = settings.poll
    if poll.enabled:
        if not poll.path:
            errors["events.poll.path"] = "Polling needs a path."
        if not poll.id_path:
            errors["events.poll.id_path"] = "Polling needs the path of each record's id."
        if not poll.updated_path:
            errors["events.poll.updated_path"] = (
                "Polling needs the path of each record's last-updated time."
            )
    if errors:
        raise DjangoValidationError(
            {
                name: DjangoValidationError(message, code=ErrorCode.REQUIRED)
                if "need" in message
                else DjangoValidationError(message, code=ErrorCode.INVALID)
                for name, message in errors.items()
            }
        )


def events_read(
    config: Mapping[str, Any], secret_names: list[str], inbound_url: str | None
) -> dict:
    """The read shape of ``events``."""
    settings = event_settings_of(config, {})
    poll = config.get("poll")
    return {
        "enabled": settings.enabled,
        "callback_url": settings.callback_url,
        "inbound_signature_header": settings.inbound_signature_header,
        "inbound_signature_scheme": settings.inbound_signature_scheme,
        "poll": copy.deepcopy(dict(poll)) if poll else None,
        "inbound_url": inbound_url,
        "secrets_set": sorted(secret_names),
    }
