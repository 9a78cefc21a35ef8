"""A data source's authentication settings, derived from the auth registry.

For each registered mode this module builds the API serializer (what a client writes and reads,
and the OpenAPI schema), merges a write into what is stored (an omitted secret keeps its value,
null clears it), and produces the read representation. Nothing here names a mode: adding one to
the registry is enough.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from apps.core.codes import ErrorCode
from apps.core.serializers import StrictSerializer
from apps.outbound.auth import MODES, get_mode
from apps.outbound.auth.base import AuthMode, FieldSpec, Kind, walk
from apps.outbound.headers import validate_header_name


@dataclass
class AuthInput:
    """What a client wrote under ``auth``: settings and secrets it sent (None clears)."""

    mode: str
    config: dict[str, Any] = field(default_factory=dict)
    secrets: dict[str, str | None] = field(default_factory=dict)


@dataclass
class AuthSettings:
    """Settings in effect after a write: mode, configuration, secrets, and which secrets the
    write sent."""

    mode: str
    config: dict[str, Any]
    secrets: dict[str, str]
    sent_secrets: set[str]


# --- serializers --------------------------------------------------------------------------


def _checked(spec: FieldSpec) -> list:
    if spec.check is None:
        return []

    def check(value: Any) -> None:
        if value not in (None, "", []):
            spec.check(value)

    return [check]


class HeaderSerializer(StrictSerializer):
    name = serializers.CharField()
    value = serializers.CharField(allow_blank=True, trim_whitespace=False)

    def validate_name(self, value: str) -> str:
        validate_header_name(value, allow_authorization=True)
        return value


def _drf_field(spec: FieldSpec) -> serializers.Field:
    common = {"required": False, "label": spec.label, "help_text": spec.help or None}
    validators = _checked(spec)
    if spec.kind is Kind.SECRET:
        return serializers.CharField(
            write_only=True, allow_null=True, allow_blank=True, trim_whitespace=False, **common
        )
    if spec.kind is Kind.CHOICE:
        return serializers.ChoiceField(choices=list(spec.choices), **common)
    if spec.kind is Kind.OBJECT:
        return _object_serializer(spec)(allow_null=True, **common)
    if spec.kind is Kind.HEADERS:
        return serializers.ListField(
            child=HeaderSerializer(), max_length=20, validators=validators, **common
        )
    if spec.kind is Kind.INTEGERS:
        return serializers.ListField(
            child=serializers.IntegerField(), max_length=50, validators=validators, **common
        )
    if spec.kind is Kind.TEXTS:
        return serializers.ListField(
            child=serializers.CharField(max_length=500), max_length=50, validators=validators,
            **common,
        )  # fmt: skip
    style = {"base_template": "textarea.html"} if spec.kind is Kind.LONG_TEXT else {}
    return serializers.CharField(
        allow_blank=True, max_length=4000, validators=validators, style=style, **common
    )


def _class_name(name: str) -> str:
    return "".join(part.capitalize() for part in name.replace(".", "_").split("_"))


@lru_cache(maxsize=64)
def _object_serializer(spec: FieldSpec) -> type[StrictSerializer]:
    attrs: dict[str, Any] = {spec_.name: _drf_field(spec_) for spec_ in spec.fields}
    return type(f"{_class_name(spec.name)}Settings", (StrictSerializer,), attrs)


@lru_cache(maxsize=64)
def _auth_serializer(mode: AuthMode) -> type[StrictSerializer]:
    attrs: dict[str, Any] = {
        "mode": serializers.ChoiceField(choices=[mode.name]),
        **{spec.name: _drf_field(spec) for spec in mode.all_fields()},
        "secrets_set": serializers.ListField(
            child=serializers.CharField(), read_only=True,
            help_text="Names of the secrets that are stored (their values are never shown).",
        ),
    }  # fmt: skip
    if mode.interactive:
        attrs["connected"] = serializers.BooleanField(read_only=True)
        attrs["connect_url"] = serializers.CharField(
            read_only=True, help_text="Open it in a browser to grant access."
        )
    attrs["Meta"] = type("Meta", (), {"ref_name": f"{_class_name(mode.name)}Auth"})
    return type(f"{_class_name(mode.name)}Auth", (StrictSerializer,), attrs)


def auth_serializer(mode: AuthMode) -> type[StrictSerializer]:
    """The serializer of ``mode``'s settings: secrets write-only, ``secrets_set`` read-only."""
    return _auth_serializer(mode)


def auth_serializers() -> dict[str, type[StrictSerializer]]:
    """Every registered mode's serializer, by mode name (the OpenAPI ``oneOf``)."""
    return {name: auth_serializer(mode) for name, mode in MODES.items()}


class AuthField(serializers.Field):
    """``auth``: an object whose settings depend on its ``mode`` (the stored mode when a PATCH
    leaves it out). Validates with that mode's serializer; gives an :class:`AuthInput`."""

    default_error_messages = {"not_object": "auth must be an object with a mode."}

    def to_internal_value(self, data: Any) -> AuthInput:
        if not isinstance(data, dict):
            self.fail("not_object")
        name = data.get("mode") or self.context.get("auth_mode") or "none"
        if name not in MODES:
            raise serializers.ValidationError(
                {
                    "mode": [
                        serializers.ErrorDetail(
                            f"Unknown auth mode {name!r}.", code=ErrorCode.INVALID_CHOICE
                        )
                    ]
                }
            )
        mode = get_mode(name)
        serializer = auth_serializer(mode)(data={**data, "mode": name}, context=self.context)
        serializer.is_valid(raise_exception=True)
        values = dict(serializer.validated_data)
        values.pop("mode", None)
        return _split(mode.all_fields(), values, mode=name)

    def to_representation(self, value: Any) -> Any:
        return value


def _split(fields: tuple[FieldSpec, ...], values: Mapping[str, Any], *, mode: str) -> AuthInput:
    """Secrets (by dotted path) apart from the other settings."""
    result = AuthInput(mode=mode)

    def visit(specs: tuple[FieldSpec, ...], given: Mapping[str, Any], into: dict, prefix: str):
        for spec in specs:
            if spec.name not in given:
                continue
            value = given[spec.name]
            path = f"{prefix}{spec.name}"
            if spec.secret:
                result.secrets[path] = value
            elif spec.kind is Kind.OBJECT and value is not None:
                into[spec.name] = {}
                visit(spec.fields, value, into[spec.name], f"{path}.")
            else:
                into[spec.name] = list(value) if isinstance(value, list | tuple) else value

    visit(fields, values, result.config, "")
    return result


# --- merging ------------------------------------------------------------------------------


def auth_merge(
    *,
    old_mode: str,
    old_config: Mapping[str, Any],
    old_secrets: Mapping[str, str],
    auth: AuthInput,
    partial: bool,
) -> AuthSettings:
    """The settings after ``auth`` is written: with the same mode and a partial write, what was
    not sent is kept (objects key by key); otherwise ``auth`` replaces everything."""
    mode = get_mode(auth.mode)
    keep = partial and auth.mode == old_mode
    config: dict[str, Any] = copy.deepcopy(dict(old_config)) if keep else {}
    secrets: dict[str, str] = dict(old_secrets) if keep else {}
    for key, value in auth.config.items():
        if value is None:
            config.pop(key, None)
        elif isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key] = {**config[key], **value}
        else:
            config[key] = value
    for path, value in auth.secrets.items():
        if value in (None, ""):
            secrets.pop(path, None)
        else:
            secrets[path] = value
    # Secrets of an object that was removed go with it.
    for path in list(secrets):
        parent = path.rpartition(".")[0]
        if parent and not config.get(parent):
            secrets.pop(path)
    for name, default in mode.defaults().items():
        if config.get(name) is None:
            config[name] = default
    return AuthSettings(
        mode=auth.mode,
        config=mode.normalize(config),
        secrets=secrets,
        sent_secrets=set(auth.secrets),
    )


def auth_validate(settings: AuthSettings) -> None:
    """The mode's own checks of complete settings; errors are named ``auth.<setting>``."""
    try:
        get_mode(settings.mode).validate(settings.config, settings.secrets)
    except DjangoValidationError as exc:
        if hasattr(exc, "error_dict"):
            raise DjangoValidationError(
                {f"auth.{key}": value for key, value in exc.error_dict.items()}
            ) from None
        raise DjangoValidationError({"auth": exc.error_list}) from None


def secret_destinations(
    base_url: str, mode: str, config: Mapping[str, Any]
) -> set[tuple[str, int]]:
    """Every (host, port) that receives this configuration's secrets."""
    from urllib.parse import urlsplit

    hosts = set()
    for url in (base_url, *get_mode(mode).secret_destinations(config)):
        if not url:
            continue
        try:
            parts = urlsplit(url)
            hosts.add(((parts.hostname or "").lower().rstrip("."), parts.port or 443))
        except ValueError:
            continue
    return hosts


# --- reading ------------------------------------------------------------------------------


def auth_read(mode_name: str, config: Mapping[str, Any], secret_names: list[str]) -> dict:
    """The read shape: the mode, its shown settings, and the names of stored secrets."""
    mode = get_mode(mode_name)
    read: dict[str, Any] = {"mode": mode_name}
    for spec in mode.all_fields():
        if not spec.secret and spec.name in config:
            read[spec.name] = copy.deepcopy(config[spec.name])
    read["secrets_set"] = sorted(secret_names)
    return read


def secret_paths_of(mode_name: str) -> list[str]:
    return [path for path, spec in walk(get_mode(mode_name).all_fields()) if spec.secret]
