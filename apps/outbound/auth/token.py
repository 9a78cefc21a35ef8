"""A token sent in a header or the query, optionally renewed by a refresh recipe."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError

from apps.outbound import templating
from apps.outbound.auth.base import AuthMode, FieldSpec, TokenResult, validate_expired_when
from apps.outbound.auth.tokenresponse import parse_token_response
from apps.outbound.client import (
    TOKEN_MAX_BYTES,
    Credentials,
    OutboundRequest,
    join_url,
    send,
)
from apps.outbound.headers import (
    header_value_problem,
    validate_header_name,
    validate_header_value,
)
from apps.outbound.policy import is_absolute_url, relative_path_problem
from apps.outbound.urls import validate_https_url

REFRESH_CONFIG_KEYS = (
    "method",
    "path",
    "headers",
    "body",
    "media_type",
    "token_path",
    "expires_in_path",
    "refresh_token_path",
    "username",
)
REFRESH_SECRET_KEYS = ("password", "refresh_token")


class TokenAuth(AuthMode):
    name = "token"
    label = "Token"
    token_bearing = True
    fields = (
        FieldSpec("token", "Token", secret=True),
        FieldSpec("in", "Send it in", choices=("header", "query"), default="header"),
        FieldSpec("header_name", "Header name", default="Authorization"),
        FieldSpec("scheme", "Scheme", default="Bearer", help="Empty sends the token alone."),
        FieldSpec("param_name", "Query parameter name"),
        FieldSpec("refresh.password", "Refresh password", secret=True),
        FieldSpec("refresh.refresh_token", "Refresh token", secret=True),
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

    def validate(self, config: dict[str, Any], secrets: dict[str, Any]) -> None:
        super().validate(config, secrets)
        where = config.get("in", "header")
        if where == "header":
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
        if recipe:
            self._validate_recipe(recipe)
        validate_expired_when(config.get("expired_when"))

    def _validate_recipe(self, recipe: Any) -> None:
        if not isinstance(recipe, dict):
            raise ValidationError({"refresh": "The refresh recipe must be an object."})
        unknown = set(recipe) - set(REFRESH_CONFIG_KEYS)
        if unknown:
            raise ValidationError({"refresh": f"Unknown refresh setting {sorted(unknown)[0]!r}."})
        if recipe.get("method", "POST") not in ("GET", "POST", "PUT", "PATCH"):
            raise ValidationError({"refresh.method": "Use GET, POST, PUT or PATCH."})
        path = recipe.get("path") or ""
        if not path:
            raise ValidationError({"refresh.path": "Give the token endpoint's path or URL."})
        # Checked as it will be sent, with placeholder values in place of the placeholders.
        sample = templating.render_path(path, dict.fromkeys(templating.RECIPE_VARIABLES, "x"))
        if is_absolute_url(path):
            validate_https_url(sample, "refresh.path")
        elif problem := relative_path_problem(sample):
            raise ValidationError({"refresh.path": problem})
        if recipe.get("media_type", "json") not in ("json", "form"):
            raise ValidationError({"refresh.media_type": "Use json or form."})
        templating.check_template(path, "refresh.path")
        templating.check_template(recipe.get("body") or "", "refresh.body")
        for header in recipe.get("headers") or []:
            if not isinstance(header, dict) or "name" not in header:
                raise ValidationError({"refresh.headers": "Each header is {name, value}."})
            try:
                validate_header_name(header["name"], allow_authorization=True)
            except ValidationError as exc:
                raise ValidationError({"refresh.headers": exc.messages}) from exc
            templating.check_template(str(header.get("value", "")), "refresh.headers")
        if recipe.get("media_type", "json") == "json" and recipe.get("body"):
            try:
                templating.render_json(recipe["body"], {})
            except ValueError as exc:
                raise ValidationError(
                    {"refresh.body": "The body is not JSON (put placeholders inside strings)."}
                ) from exc

    def secret_hosts(self, config: dict[str, Any]) -> list[str]:
        path = (config.get("refresh") or {}).get("path") or ""
        return [path] if is_absolute_url(path) else []

    def describe(self, datasource) -> str:
        refresh = " with refresh" if datasource.auth_config.get("refresh") else ""
        return f"Token{refresh}"

    def static_token(self, datasource) -> str | None:
        return datasource.secrets.get("token") or None

    def can_refresh(self, datasource, state) -> bool:
        return bool(datasource.auth_config.get("refresh"))

    def token_credentials(self, datasource, token: str) -> Credentials:
        config = datasource.auth_config
        if config.get("in", "header") == "query":
            return Credentials(params=[(config["param_name"], token)], token=token)
        scheme = config.get("scheme", "Bearer")
        value = f"{scheme} {token}" if scheme else token
        return Credentials(
            headers={config.get("header_name") or "Authorization": value}, token=token
        )

    def fetch_token(self, datasource, state) -> TokenResult:
        recipe = datasource.auth_config["refresh"]
        secrets = datasource.secrets
        values = {
            "username": recipe.get("username", ""),
            "password": secrets.get("refresh.password", ""),
            "refresh_token": (state.refresh_token if state else None)
            or secrets.get("refresh.refresh_token", ""),
            "token": (state.access_token if state else None) or secrets.get("token", ""),
        }
        path = templating.render_path(recipe["path"], values)
        url = path if is_absolute_url(recipe["path"]) else join_url(datasource.base_url, path)
        media_type = recipe.get("media_type", "json")
        headers = {"Accept": "application/json"}
        sensitive = {
            h["name"]: templating.render_header(str(h.get("value", "")), values)
            for h in recipe.get("headers") or []
        }
        body = None
        method = recipe.get("method", "POST")
        if recipe.get("body") and method != "GET":
            if media_type == "form":
                body = templating.render_form(recipe["body"], values).encode()
                headers["Content-Type"] = "application/x-www-form-urlencoded"
            else:
                body = templating.render_json(recipe["body"], values).encode()
                headers["Content-Type"] = "application/json"
        response = send(
            OutboundRequest(method, url, headers=headers, body=body),
            timeout=datasource.timeout_seconds,
            max_bytes=TOKEN_MAX_BYTES,
            pool=datasource.pool_key,
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
