"""Turning what a client writes (API JSON or the wizard's form) into a data source's
configuration and secrets, with the checks of the contract."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator

from apps.outbound.auth import MODES, get_mode
from apps.outbound.headers import validate_headers
from apps.outbound.policy import relative_path_problem
from apps.outbound.urls import validate_https_url

READ_ONLY_AUTH_KEYS = {"mode", "secrets_set", "connected", "connect_url"}
REFRESH_SECRETS = ("password", "refresh_token")
PING_METHODS = ("GET", "HEAD", "POST")


def _prefixed(exc: ValidationError, prefix: str) -> ValidationError:
    if hasattr(exc, "error_dict"):
        return ValidationError({f"{prefix}.{k}": v for k, v in exc.error_dict.items()})
    return ValidationError({prefix: exc.error_list})


def split_auth(mode_name: str, auth: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(config changes, secret changes) from an ``auth`` object; None means "clear"."""
    if mode_name not in MODES:
        raise ValidationError(
            {
                "auth.mode": ValidationError(
                    f"Unknown auth mode {mode_name!r}.", code="invalid_choice"
                )
            }
        )
    mode = get_mode(mode_name)
    secret_names = set(mode.secret_names())
    allowed = set(mode.config_names())
    if mode.token_bearing:
        allowed.add("expired_when")
    config: dict[str, Any] = {}
    secrets: dict[str, Any] = {}
    for key, value in auth.items():
        if key in READ_ONLY_AUTH_KEYS:
            continue
        if key in secret_names:
            if value is not None and not isinstance(value, str):
                raise ValidationError(
                    {f"auth.{key}": "A secret must be a string (or null to clear it)."}
                )
            secrets[key] = value
        elif key == "refresh" and mode_name == "token":
            if value is None:
                config["refresh"] = None
                continue
            if not isinstance(value, dict):
                raise ValidationError({"auth.refresh": "The refresh recipe must be an object."})
            recipe = dict(value)
            for name in REFRESH_SECRETS:
                if name in recipe:
                    secrets[f"refresh.{name}"] = recipe.pop(name)
            config["refresh"] = recipe
        elif key in allowed:
            config[key] = value
        else:
            raise ValidationError(
                {f"auth.{key}": f"{key!r} is not a setting of the {mode_name} auth mode."}
            )
    return config, secrets


def merge_auth(
    *,
    old_mode: str,
    old_config: dict[str, Any],
    old_secrets: dict[str, Any],
    auth: dict[str, Any],
    partial: bool,
) -> tuple[str, dict[str, Any], dict[str, Any], set[str]]:
    """The auth mode, config and secrets after applying ``auth``, and the names of secrets the
    request sent (set or cleared)."""
    mode_name = auth.get("mode") or old_mode
    changes, secret_changes = split_auth(mode_name, auth)
    keep = partial and mode_name == old_mode
    config = dict(old_config) if keep else {}
    secrets = dict(old_secrets) if keep else {}
    for key, value in changes.items():
        if value is None:
            config.pop(key, None)
        elif key == "refresh" and keep and isinstance(config.get("refresh"), dict):
            config["refresh"] = {**config["refresh"], **value}
        else:
            config[key] = value
    for key, value in secret_changes.items():
        if value in (None, ""):
            secrets.pop(key, None)
        else:
            secrets[key] = value
    # Defaults, so that a read shows what is in effect.
    for spec in get_mode(mode_name).fields:
        if not spec.secret and spec.default is not None and config.get(spec.name) is None:
            config[spec.name] = spec.default
    if mode_name == "token" and config.get("in") == "header":
        config.pop("param_name", None)
    return mode_name, config, secrets, set(secret_changes)


def validate_auth(mode_name: str, config: dict[str, Any], secrets: dict[str, Any]) -> None:
    try:
        get_mode(mode_name).validate(config, secrets)
    except ValidationError as exc:
        raise _prefixed(exc, "auth") from None


def clean_base_url(value: Any) -> str:
    if not isinstance(value, str):
        raise ValidationError({"base_url": "Give the API's base URL."})
    value = value.strip()
    validate_https_url(value, "base_url")
    parts = urlsplit(value)
    if parts.query or parts.fragment:
        raise ValidationError({"base_url": "The base URL may not have a query or fragment."})
    return value.rstrip("/")


def clean_docs_url(value: Any) -> str:
    value = (value or "").strip()
    if value:
        try:
            URLValidator(schemes=["https", "http"])(value)
        except ValidationError:
            raise ValidationError({"docs_url": "Give a full http(s) link."}) from None
    return value


def clean_relative_path(value: Any, field: str) -> str:
    if value is not None and not isinstance(value, str):
        raise ValidationError({field: "Give a path relative to the base URL, like /health."})
    value = (value or "").strip()
    problem = relative_path_problem(value)
    if problem:
        raise ValidationError({field: problem})
    return value


def clean_headers(value: Any) -> list[dict[str, str]]:
    try:
        return validate_headers(value)
    except ValidationError as exc:
        raise ValidationError({"headers": exc.error_list}) from None


def clean_timeout(value: Any) -> int:
    try:
        seconds = int(value)
    except (TypeError, ValueError):
        raise ValidationError({"timeout_seconds": "Give a whole number of seconds."}) from None
    if not 1 <= seconds <= 60:
        raise ValidationError({"timeout_seconds": "The timeout is 1 to 60 seconds."})
    return seconds


def clean_ping(value: Any) -> dict[str, Any]:
    if value in (None, ""):
        return {}
    if not isinstance(value, dict):
        raise ValidationError({"ping": "Test settings must be an object."})
    unknown = set(value) - {"method", "path", "success_path", "success_values"}
    if unknown:
        raise ValidationError({f"ping.{sorted(unknown)[0]}": "Unknown test setting."})
    method = (value.get("method") or "GET").upper()
    if method not in PING_METHODS:
        raise ValidationError({"ping.method": f"Use one of {', '.join(PING_METHODS)}."})
    values = value.get("success_values") or []
    if not isinstance(values, list):
        raise ValidationError({"ping.success_values": "Give a list of values."})
    return {
        "method": method,
        "path": clean_relative_path(value.get("path"), "ping.path"),
        "success_path": (value.get("success_path") or "").strip(),
        "success_values": [str(v) for v in values],
    }


def secret_destinations(
    base_url: str, mode_name: str, config: dict[str, Any]
) -> set[tuple[str, int]]:
    """Every (host, port) that receives this configuration's secrets."""
    urls = [base_url, *get_mode(mode_name).secret_hosts(config)]
    hosts = set()
    for url in urls:
        if not url:
            continue
        try:
            parts = urlsplit(url)
            hosts.add(((parts.hostname or "").lower().rstrip("."), parts.port or 443))
        except ValueError:
            continue
    return hosts
