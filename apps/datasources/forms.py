"""The wizard's forms. They produce the same write shape as the API and are validated by the
same services; this module only maps fields and errors."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from apps.datasources.models import DataSource
from apps.datasources.representation import secrets_set
from apps.outbound.auth import MODES
from apps.outbound.auth.base import FieldSpec
from apps.outbound.auth.providers import PROVIDERS
from apps.outbound.headers import MAX_HEADERS

RECIPE_FIELDS = (
    ("method", "Method", "POST"),
    ("path", "Path or URL", ""),
    ("media_type", "Body format", "form"),
    ("body", "Body template", ""),
    ("headers", "Headers", ""),
    ("token_path", "Token path", "access_token"),
    ("expires_in_path", "Expires-in path", "expires_in"),
    ("refresh_token_path", "Refresh-token path", "refresh_token"),
    ("username", "User name", ""),
)


def field_name(mode: str, spec_name: str) -> str:
    return f"{mode}__{spec_name.replace('.', '__')}"


class CreateForm(forms.Form):
    name = forms.CharField(
        max_length=200,
        help_text="What your team calls this API, e.g. “Jira Cloud”.",
        widget=forms.TextInput(attrs={"autofocus": True, "class": "vTextField"}),
    )


def _comma_list(value: str) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


class ConfigureForm(forms.Form):
    """Server details, headers, authentication and test settings of one data source."""

    name = forms.CharField(max_length=200, widget=forms.TextInput(attrs={"class": "vTextField"}))
    slug = forms.SlugField(max_length=100, help_text="Names this data source in proxy URLs.")
    base_url = forms.CharField(
        label="Base URL",
        max_length=2000,
        widget=forms.URLInput(
            attrs={"class": "vURLField", "placeholder": "https://api.example.com/v1"}
        ),
        help_text="https:// only. Every request path is relative to it.",
    )
    docs_url = forms.CharField(
        label="API documentation", max_length=2000, required=False,
        widget=forms.URLInput(attrs={"class": "vURLField"}),
    )  # fmt: skip
    health_check_path = forms.CharField(
        label="Health check path", max_length=500, required=False,
        help_text="Called by the connection test when no test path is set, e.g. /health.",
    )  # fmt: skip
    timeout_seconds = forms.IntegerField(
        label="Timeout (seconds)", min_value=1, max_value=60, initial=60,
        help_text="Bounds each whole call: connect, TLS and every read. 1 to 60.",
    )  # fmt: skip
    auth_mode = forms.ChoiceField(
        label="Authentication", choices=[(name, mode.label) for name, mode in MODES.items()]
    )
    expired__status_codes = forms.CharField(
        label="Expired when status is", required=False, initial="401",
        help_text="Comma-separated statuses that mean “token expired”: refresh once and retry.",
    )  # fmt: skip
    expired__body_path = forms.CharField(label="…or when the JSON body at", required=False)
    expired__body_values = forms.CharField(
        label="has one of", required=False, help_text="Comma-separated values, e.g. token_expired."
    )
    ping__method = forms.ChoiceField(
        label="Method", choices=[("GET", "GET"), ("HEAD", "HEAD"), ("POST", "POST")], initial="GET"
    )
    ping__path = forms.CharField(
        label="Test path", required=False, help_text="Relative to the base URL, e.g. /myself."
    )
    ping__success_path = forms.CharField(
        label="Success path", required=False,
        help_text="Optional dotted path into the JSON answer, e.g. data.status.",
    )  # fmt: skip
    ping__success_values = forms.CharField(
        label="Success values", required=False,
        help_text="Comma-separated; the value at the success path must equal one (as text).",
    )  # fmt: skip

    def __init__(self, *args: Any, datasource: DataSource, **kwargs: Any) -> None:
        self.datasource = datasource
        super().__init__(*args, **kwargs)
        stored = set(secrets_set(datasource))
        for mode_name, mode in MODES.items():
            for spec in mode.fields:
                self._add_spec_field(
                    mode_name, spec, stored if mode_name == datasource.auth_mode else set()
                )
        for key, label, default in RECIPE_FIELDS:
            name = f"token__refresh_{key}"
            if key == "body":
                widget: forms.Widget = forms.Textarea(attrs={"rows": 3, "class": "vLargeTextField"})
            elif key == "headers":
                widget = forms.Textarea(attrs={"rows": 2, "placeholder": "Name: value"})
            elif key in ("method", "media_type"):
                choices = (
                    [("POST", "POST"), ("GET", "GET"), ("PUT", "PUT"), ("PATCH", "PATCH")]
                    if key == "method"
                    else [("form", "form"), ("json", "JSON")]
                )
                self.fields[name] = forms.ChoiceField(label=label, choices=choices, initial=default)
                continue
            else:
                widget = forms.TextInput()
            self.fields[name] = forms.CharField(
                label=label, required=False, initial=default, widget=widget
            )
        self.fields["token__refresh_enabled"] = forms.BooleanField(
            label="Refresh the token with a request", required=False
        )
        self.fields["token__refresh_path"].help_text = (
            "Relative to the base URL, or an absolute https URL. Templates: {{username}}, "
            "{{password}}, {{refresh_token}}, {{token}}."
        )
        if not self.is_bound:
            self._set_initial()

    def _add_spec_field(self, mode_name: str, spec: FieldSpec, stored: set[str]) -> None:
        name = field_name(mode_name, spec.name)
        if spec.secret:
            is_set = spec.name in stored
            self.fields[name] = forms.CharField(
                label=spec.label,
                required=False,
                strip=False,
                widget=forms.PasswordInput(
                    render_value=False, attrs={"autocomplete": "new-password"}
                ),
                help_text="Stored and unchanged; type a new value to replace it."
                if is_set
                else "Not set.",
            )
            if is_set:
                self.fields[f"{name}__clear"] = forms.BooleanField(
                    label=f"Remove the stored {spec.label.lower()}", required=False
                )
            return
        if spec.choices:
            labels = {p: PROVIDERS[p].label for p in PROVIDERS} if spec.name == "provider" else {}
            self.fields[name] = forms.ChoiceField(
                label=spec.label,
                choices=[(c, labels.get(c, c)) for c in spec.choices],
                initial=spec.default,
                required=False,
            )
        else:
            self.fields[name] = forms.CharField(
                label=spec.label, required=False, initial=spec.default, help_text=spec.help
            )

    def _set_initial(self) -> None:
        ds = self.datasource
        initial = {
            "name": ds.name,
            "slug": ds.slug,
            "base_url": ds.base_url,
            "docs_url": ds.docs_url,
            "health_check_path": ds.health_check_path,
            "timeout_seconds": ds.timeout_seconds,
            "auth_mode": ds.auth_mode,
        }
        config = ds.auth_config or {}
        for spec in MODES[ds.auth_mode].fields:
            if not spec.secret and spec.name in config:
                initial[field_name(ds.auth_mode, spec.name)] = config[spec.name]
        recipe = config.get("refresh") if ds.auth_mode == "token" else None
        if recipe:
            initial["token__refresh_enabled"] = True
            for key, _, _ in RECIPE_FIELDS:
                value = recipe.get(key)
                if key == "headers":
                    value = "\n".join(f"{h['name']}: {h.get('value', '')}" for h in value or [])
                if value is not None:
                    initial[f"token__refresh_{key}"] = value
        expired = config.get("expired_when") or {}
        if expired:
            initial["expired__status_codes"] = ", ".join(
                str(s) for s in expired.get("status_codes", [])
            )
            initial["expired__body_path"] = expired.get("body_path", "")
            initial["expired__body_values"] = ", ".join(expired.get("body_values", []))
        ping = ds.ping or {}
        initial.update(
            ping__method=ping.get("method", "GET"),
            ping__path=ping.get("path", ""),
            ping__success_path=ping.get("success_path", ""),
            ping__success_values=", ".join(ping.get("success_values", [])),
        )
        self.initial.update(initial)

    # --- what was typed, in the API's shape ---------------------------------------------------

    def headers_typed(self) -> list[dict[str, str]]:
        if not self.is_bound:
            return list(self.datasource.headers or [])
        names = self.data.getlist("header_name")
        values = self.data.getlist("header_value")
        rows = [
            {"name": n.strip(), "value": v}
            for n, v in zip(names, values, strict=False)
            if n.strip() or v.strip()
        ]
        return rows[: MAX_HEADERS + 5]

    def to_data(self) -> dict[str, Any]:
        c = self.cleaned_data
        mode_name = c["auth_mode"]
        mode = MODES[mode_name]
        auth: dict[str, Any] = {"mode": mode_name}
        refresh_secrets: dict[str, Any] = {}
        for spec in mode.fields:
            name = field_name(mode_name, spec.name)
            value = c.get(name)
            target = auth
            key = spec.name
            if key.startswith("refresh."):
                target, key = refresh_secrets, key.split(".", 1)[1]
            if spec.secret:
                if value:
                    target[key] = value
                elif c.get(f"{name}__clear"):
                    target[key] = None
            else:
                auth[key] = value if value is not None else ""
        if mode_name == "token":
            if c.get("token__refresh_enabled"):
                recipe: dict[str, Any] = {}
                for key, _, _ in RECIPE_FIELDS:
                    value = c.get(f"token__refresh_{key}") or ""
                    if key == "headers":
                        value = [
                            {
                                "name": line.split(":", 1)[0].strip(),
                                "value": line.split(":", 1)[1].strip(),
                            }
                            for line in value.splitlines()
                            if ":" in line
                        ]
                    recipe[key] = value
                recipe.update(refresh_secrets)
                auth["refresh"] = recipe
            else:
                auth["refresh"] = None
        if mode.token_bearing:
            codes = _comma_list(c.get("expired__status_codes", ""))
            expired: dict[str, Any] = {}
            try:
                expired["status_codes"] = [int(code) for code in codes] or [401]
            except ValueError:
                raise ValidationError(
                    {"expired__status_codes": "Give status codes like 401, 403."}
                ) from None
            if c.get("expired__body_path"):
                expired["body_path"] = c["expired__body_path"]
                expired["body_values"] = _comma_list(c.get("expired__body_values", ""))
            auth["expired_when"] = expired
        return {
            "name": c["name"],
            "slug": c["slug"],
            "base_url": c["base_url"],
            "docs_url": c.get("docs_url") or "",
            "health_check_path": c.get("health_check_path") or "",
            "timeout_seconds": c["timeout_seconds"],
            "headers": self.headers_typed(),
            "auth": auth,
            "ping": {
                "method": c.get("ping__method") or "GET",
                "path": c.get("ping__path") or "",
                "success_path": c.get("ping__success_path") or "",
                "success_values": _comma_list(c.get("ping__success_values", "")),
            },
        }

    def add_service_errors(self, exc: ValidationError) -> None:
        """Show a service's field errors next to the form fields they belong to."""
        mode_name = self.cleaned_data.get("auth_mode") or self.datasource.auth_mode
        for key, errors in exc.message_dict.items():
            target = self._field_for(key, mode_name)
            for message in errors:
                if target == "headers":
                    self.header_errors.append(message)
                elif target in self.fields:
                    self.add_error(target, message)
                else:
                    self.add_error(None, f"{key}: {message}" if key != "__all__" else message)

    header_errors: list[str]

    def full_clean(self) -> None:
        self.header_errors = []
        super().full_clean()

    def _field_for(self, key: str, mode_name: str) -> str:
        if key in self.fields or key == "headers":
            return key
        if key.startswith("headers"):
            return "headers"
        if key.startswith("ping."):
            return "ping__" + key.split(".", 1)[1]
        if key == "auth.expired_when":
            return "expired__status_codes"
        if key.startswith("auth.refresh."):
            sub = key.split(".", 2)[2]
            secret = field_name(mode_name, f"refresh.{sub}")
            return secret if secret in self.fields else f"token__refresh_{sub}"
        if key == "auth.refresh":
            return "token__refresh_path"
        if key.startswith("auth."):
            return field_name(mode_name, key.split(".", 1)[1])
        if key == "auth":
            return "auth_mode"
        return key

    def mode_sections(self) -> list[dict[str, Any]]:
        """The per-mode field groups, for the template."""
        sections = []
        for mode_name, mode in MODES.items():
            names = []
            for spec in mode.fields:
                if spec.name.startswith("refresh."):
                    continue
                name = field_name(mode_name, spec.name)
                names.append(name)
                if f"{name}__clear" in self.fields:
                    names.append(f"{name}__clear")
            sections.append(
                {
                    "mode": mode_name,
                    "label": mode.label,
                    "fields": [self[n] for n in names],
                    "token_bearing": mode.token_bearing,
                }
            )
        return sections

    def recipe_fields(self) -> list[forms.BoundField]:
        names = [f"token__refresh_{key}" for key, _, _ in RECIPE_FIELDS]
        for secret in ("refresh.password", "refresh.refresh_token"):
            name = field_name("token", secret)
            names.append(name)
            if f"{name}__clear" in self.fields:
                names.append(f"{name}__clear")
        return [self[n] for n in names]
