"""A token sent in a header or the query, optionally renewed by a refresh recipe."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError

from apps.outbound import templating
from apps.outbound.auth.base import AuthMode, FieldSpec, Kind, TokenResult
from apps.outbound.auth.tokenresponse import parse_token_response
from apps.outbound.client import TOKEN_MAX_BYTES, Credentials, OutboundRequest, join_url, send
from apps.outbound.destinations import validate_https_url
from apps.outbound.headers import (
    header_value_problem,
    validate_header_name,
    validate_header_value,
)
from apps.outbound.policy import is_absolute_url, relative_path_problem

PLACES = (("header", "Header"), ("query", "Query parameter"))
REFRESH_METHODS = (("POST", "POST"), ("GET", "GET"), ("PUT", "PUT"), ("PATCH", "PATCH"))
MEDIA_TYPES = (("json", "JSON"), ("form", "form (x-www-form-urlencoded)"))
_TEMPLATES = "Templates: " + ", ".join(f"{{{{{v}}}}}" for v in templating.RECIPE_VARIABLES)


def _sample(template: str) -> str:
    """``template`` as it is sent, with placeholder values in place of the placeholders."""
    return templating.render_path(template, dict.fromkeys(templating.RECIPE_VARIABLES, "x"))


def _check_path(path: str) -> None:
    templating.check_template(path or "")
    if is_absolute_url(path or ""):
        validate_https_url(_sample(path), None)
    elif path and (problem := relative_path_problem(_sample(path))):
        raise ValidationError(problem)


def _check_headers(headers: list[dict[str, str]]) -> None:
    for header in headers or []:
        validate_header_name(header.get("name"), allow_authorization=True)
        templating.check_template(str(header.get("value", "")))


def _check_body(body: str) -> None:
    templating.check_template(body or "")


REFRESH = FieldSpec(
    "refresh",
    "Refresh the token with a request",
    kind=Kind.OBJECT,
    help="How to obtain a new token when it expires or is refused. " + _TEMPLATES + ".",
    fields=(
        FieldSpec("method", "Method", kind=Kind.CHOICE, choices=REFRESH_METHODS, default="POST"),
        FieldSpec("path", "Path or URL", required=True, sends_secrets=True, check=_check_path,
                  placeholder="/oauth/token",
                  help="Relative to the base URL, or an absolute https URL. " + _TEMPLATES + "."),
        FieldSpec("headers", "Headers", kind=Kind.HEADERS, check=_check_headers),
        FieldSpec("body", "Body template", kind=Kind.LONG_TEXT, check=_check_body,
                  placeholder="grant_type=refresh_token&refresh_token={{refresh_token}}"),
        FieldSpec("media_type", "Body format", kind=Kind.CHOICE, choices=MEDIA_TYPES,
                  default="json"),
        FieldSpec("token_path", "Token path", default="access_token",
                  help="Dotted path to the token in the answer."),
        FieldSpec("expires_in_path", "Expires-in path", default="expires_in"),
        FieldSpec("refresh_token_path", "Refresh-token path", default="refresh_token"),
        FieldSpec("username", "User name", help="For {{username}}."),
        FieldSpec("password", "Refresh password", kind=Kind.SECRET, help="For {{password}}."),
        FieldSpec("refresh_token", "Refresh token", kind=Kind.SECRET,
                  help="For {{refresh_token}}; a rotated one replaces it."),
    ),
)  # fmt: skip


class TokenAuth(AuthMode):
    name = "token"
    label = "Token (with optional refresh)"
    token_bearing = True
    fields = (
        FieldSpec("token", "Token", kind=Kind.SECRET),
        FieldSpec("in", "Send it in", kind=Kind.CHOICE, choices=PLACES, default="header"),
        FieldSpec("header_name", "Header name", default="Authorization"),
        FieldSpec("scheme", "Scheme", default="Bearer", help="Empty sends the token alone."),
        FieldSpec("param_name", "Query parameter name"),
        REFRESH,
    )
    example = {
        "mode": "token",
        "token": "eyJhbGciOi…",
        "in": "header",
        "header_name": "Authorization",
        "scheme": "Bearer",
        "refresh": {
            "method": "POST",
            "path": "/oauth/token",
            "media_type": "form",
            "body": "grant_type=refresh_token&refresh_token={{refresh_token}}",
            "token_path": "access_token",
            "expires_in_path": "expires_in",
            "refresh_token": "…",
        },
        "expired_when": {"status_codes": [401]},
    }

    def normalize(self, config: dict[str, Any]) -> dict[str, Any]:
        if config.get("in") == "header":
            config.pop("param_name", None)
        return config

    def validate(self, config: Any, secrets: Any) -> None:
        super().validate(config, secrets)
        if config.get("in", "header") == "header":
            try:
                validate_header_name(
                    config.get("header_name") or "Authorization", allow_authorization=True
                )
            except ValidationError as exc:
                raise ValidationError({"header_name": exc.messages}) from exc
            scheme = config.get("scheme", "Bearer") or ""
            if header_value_problem(scheme) or " " in scheme:
                raise ValidationError(
                    {"scheme": "The scheme is one word without spaces or control characters."}
                )
            if secrets.get("token"):
                try:
                    validate_header_value(secrets["token"], what="The token")
                except ValidationError as exc:
                    raise ValidationError({"token": exc.messages}) from exc
        elif not config.get("param_name"):
            raise ValidationError(
                {"param_name": "Name the query parameter that carries the token."}
            )
        recipe = config.get("refresh")
        if not recipe and not secrets.get("token"):
            raise ValidationError({"token": "Give a token, a refresh recipe, or both."})
        if recipe and recipe.get("media_type", "json") == "json" and recipe.get("body"):
            try:
                templating.render_json(recipe["body"], {})
            except ValueError as exc:
                raise ValidationError(
                    {"refresh.body": "The body is not JSON (put placeholders inside strings)."}
                ) from exc

    def describe(self, config) -> str:
        return "Token" + (" with refresh" if config.get("refresh") else "")

    def static_token(self, connection) -> str | None:
        return connection.secrets.get("token") or None

    def can_refresh(self, connection, stored) -> bool:
        return bool(connection.auth_config.get("refresh"))

    def token_credentials(self, connection, token: str) -> Credentials:
        config = connection.auth_config
        if config.get("in", "header") == "query":
            return Credentials(params=[(config["param_name"], token)], token=token)
        scheme = config.get("scheme", "Bearer")
        value = f"{scheme} {token}" if scheme else token
        return Credentials(
            headers={config.get("header_name") or "Authorization": value}, token=token
        )

    def fetch_token(self, connection, stored) -> TokenResult:
        recipe = connection.auth_config["refresh"]
        secrets = connection.secrets
        values = {
            "username": recipe.get("username", ""),
            "password": secrets.get("refresh.password", ""),
            "refresh_token": (stored.refresh_token if stored else None)
            or secrets.get("refresh.refresh_token", ""),
            "token": (stored.access_token if stored else None) or secrets.get("token", ""),
        }
        path = templating.render_path(recipe["path"], values)
        absolute = is_absolute_url(recipe["path"])
        url = path if absolute else join_url(connection.base_url, path)
        headers = {"Accept": "application/json"}
        sensitive = {
            h["name"]: templating.render_header(str(h.get("value", "")), values)
            for h in recipe.get("headers") or []
        }
        body = None
        method = recipe.get("method", "POST")
        if recipe.get("body") and method != "GET":
            if recipe.get("media_type", "json") == "form":
                body = templating.render_form(recipe["body"], values).encode()
                headers["Content-Type"] = "application/x-www-form-urlencoded"
            else:
                body = templating.render_json(recipe["body"], values).encode()
                headers["Content-Type"] = "application/json"
        response = send(
            OutboundRequest(method, url, headers=headers, body=body),
            timeout=connection.timeout_seconds,
            max_bytes=TOKEN_MAX_BYTES,
            pool=connection.pool_key,
            credentials=Credentials(headers=sensitive),
            follow_redirects=False,  # the recipe's secrets go to the named endpoint only
            redact=[v for v in values.values() if v],
        )
        return parse_token_response(
            response,
            token_path=recipe.get("token_path") or "access_token",
            expires_in_path=recipe.get("expires_in_path", "expires_in"),
            refresh_token_path=recipe.get("refresh_token_path", "refresh_token"),
        )
