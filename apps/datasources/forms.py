"""The wizard's forms. They only map between fields and the API's write shape: what is typed is
validated by the same serializer and services as the API, and their errors are shown next to
the fields they name. Authentication fields are derived from the auth registry."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from rest_framework.exceptions import ValidationError as DRFValidationError

from apps.core.codes import ErrorCode
from apps.core.errors import django_validation_detail, flatten_validation
from apps.datasources.event_settings import (
    DEFAULT_POLL_INTERVAL,
    DEFAULT_SCHEME,
    MAX_POLL_INTERVAL,
    MIN_POLL_INTERVAL,
    SCHEME_HEADERS,
)
from apps.datasources.inputs import (
    DEFAULT_BULK_CONCURRENCY,
    DEFAULT_TIMEOUT,
    MAX_TIMEOUT,
    MIN_TIMEOUT,
    PING_METHODS,
)
from apps.datasources.models import DataSource, event_secrets_unreadable
from apps.datasources.representation import event_secrets_set, secrets_set
from apps.outbound.auth import MODES, mode_choices
from apps.outbound.auth.base import AuthMode, FieldSpec, Kind
from apps.outbound.headers import MAX_HEADERS
from apps.outbound.paths import get_path


def field_name(mode: str, path: str) -> str:
    """``token`` + ``refresh.path`` → ``token__refresh__path``."""
    return f"{mode}__{path.replace('.', '__')}"


def _toggled(spec: FieldSpec) -> bool:
    """An object setting without a default is optional: a checkbox switches it on."""
    return spec.kind is Kind.OBJECT and spec.default is None


# The serializer's own sentences for a missing value, said for the field on the page.
GENERIC_REQUIRED = (
    "This field may not be blank.",
    "This field is required.",
    "This field may not be null.",
)

# What the configure page of a new data source (a draft) offers; the API's default stays
# inputs.DEFAULT_TIMEOUT (60 s, the contract's).
NEW_TIMEOUT = 30


class CreateForm(forms.Form):
    name = forms.CharField(
        max_length=200,
        help_text="What your team calls this API, e.g. “Jira Cloud”.",
        widget=forms.TextInput(attrs={"autofocus": True, "class": "vTextField"}),
    )


def _comma_list(value: str) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def _text(label: str, *, help_text: str = "", css: str = "vTextField", **attrs: Any) -> forms.Field:
    return forms.CharField(
        label=label, required=False, help_text=help_text,
        widget=forms.TextInput(attrs={"class": css, **attrs}),
    )  # fmt: skip


def _secret(label: str, *, is_set: bool, help_text: str) -> forms.Field:
    """A write-only secret: never rendered with a value."""
    return forms.CharField(
        label=label, required=False, strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Stored and unchanged; type a new value to replace it." if is_set else help_text,
    )  # fmt: skip


# The events settings the configure page edits (``events.<key>``, ``events.poll.<key>``); the
# secrets are handled apart.
EVENT_KEYS = ("enabled", "callback_url", "inbound_signature_scheme", "inbound_signature_header")
POLL_KEYS = ("enabled", "path", "interval_seconds", "results_path", "id_path", "updated_path")
EVENT_SECRETS = {"signature_key": "signature key", "inbound_secret": "inbound secret"}
SCHEME_CHOICES = [
    ("hmac_sha256", "HMAC-SHA256 of the body (GitHub, Jira, most SaaS)"),
    ("standard_webhooks", "Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature)"),
]


class ConfigureForm(forms.Form):
    """Server details, headers, authentication and test settings of one data source. The fields
    take what is typed as it is; the API's serializer validates it."""

    name = _text("Name", maxlength=200)
    slug = _text("Slug", help_text="Names this data source in proxy URLs.", maxlength=100)
    base_url = _text("Base URL", help_text="https:// only. Every request path is relative to it.",
                     css="vURLField", placeholder="https://api.example.com/v1")  # fmt: skip
    docs_url = _text("API documentation", css="vURLField")
    health_check_path = _text(
        "Health check path",
        help_text="A path that only says whether the API is up, e.g. /health. Test connection "
        "calls it when the test path above is empty (then a pass proves the server answers, "
        "not that the credentials work); empty too: the base URL itself.",
    )
    timeout_seconds = _text(
        "Timeout (seconds)", css="vIntegerField",
        help_text=f"Bounds each whole call: connect, TLS and every read. {MIN_TIMEOUT} to "
        f"{MAX_TIMEOUT}.", inputmode="numeric",
    )  # fmt: skip
    bulk_concurrency = _text(
        "Bulk requests at once", css="vIntegerField", inputmode="numeric",
        help_text="How many requests a bulk job keeps in flight (1 to the server's cap).",
    )  # fmt: skip
    auth_mode = forms.ChoiceField(label="Authentication")
    ping__method = forms.ChoiceField(label="Method", choices=[(m, m) for m in PING_METHODS])
    ping__path = _text(
        "Test path",
        help_text="What Test connection calls, relative to the base URL, e.g. /myself. Pick one "
        "that needs the credentials, so that a pass proves they work. Empty: the health check "
        "path below.",
    )
    ping__success_path = _text(
        "Success path", help_text="Optional dotted path into the JSON answer, e.g. data.status."
    )
    ping__success_values = _text(
        "Success values",
        help_text="Comma-separated; the value at the success path must equal one (as text).",
    )
    # Present when the page showed the Events section: a post without it leaves events alone.
    events_section = forms.CharField(required=False, widget=forms.HiddenInput)
    events__enabled = forms.BooleanField(
        label="Deliver events", required=False,
        help_text="POST every recorded event to the callback URL, signed with the signature "
        "key (Standard Webhooks). Needs both.",
    )  # fmt: skip
    events__callback_url = _text(
        "Callback URL", css="vURLField", placeholder="https://app.example.com/hooks/plugboard",
        help_text="Where events are delivered. https:// only.",
    )  # fmt: skip
    events__inbound_signature_scheme = forms.ChoiceField(
        label="Signature scheme", choices=SCHEME_CHOICES, required=False,
        help_text="How the signature of an inbound request is checked (with an inbound secret).",
    )  # fmt: skip
    events__inbound_signature_header = _text(
        "Signature header", placeholder=SCHEME_HEADERS[DEFAULT_SCHEME],
        help_text=f"Where an HMAC-SHA256 signature is read; empty: "
        f"{SCHEME_HEADERS[DEFAULT_SCHEME]}.",
    )  # fmt: skip
    events__poll__enabled = forms.BooleanField(
        label="Polling", required=False,
        help_text="For APIs without webhooks: ask the API for what changed at an interval and "
        "record one event per new or changed record.",
    )  # fmt: skip
    events__poll__path = _text(
        "Path", placeholder="/search?jql=updated>={since}",
        help_text="Relative to the base URL; {since} becomes the last watermark (ISO 8601).",
    )  # fmt: skip
    events__poll__interval_seconds = _text(
        "Interval (seconds)", css="vIntegerField", inputmode="numeric",
        help_text=f"{MIN_POLL_INTERVAL} to {MAX_POLL_INTERVAL}.",
    )  # fmt: skip
    events__poll__results_path = _text(
        "Results path",
        help_text="Dotted path to the list of records; empty: the answer is the list.",
    )
    events__poll__id_path = _text("Id path", help_text="Dotted path to each record's id.")
    events__poll__updated_path = _text(
        "Updated path",
        help_text="Dotted path to each record's last-updated time (ISO 8601 or epoch seconds).",
    )

    def __init__(self, *args: Any, datasource: DataSource, **kwargs: Any) -> None:
        self.datasource = datasource
        super().__init__(*args, **kwargs)
        self.header_errors: list[str] = []
        self.fields["auth_mode"].choices = mode_choices()
        stored = set(secrets_set(datasource))
        for mode in MODES.values():
            mine = stored if mode.name == datasource.auth_mode else set()
            self._add_fields(mode, mode.all_fields(), "", mine)
        self._add_event_secrets(
            set(event_secrets_set(datasource)), unreadable=event_secrets_unreadable(datasource)
        )
        if not self.is_bound:
            self._set_initial()

    def _add_event_secrets(self, stored: set[str], *, unreadable: bool = False) -> None:
        """With unreadable stored secrets, each one must be typed again or removed (which of
        them were set cannot be known), so both offer "Remove"."""
        helps = {
            "signature_key": "Signs deliveries: whsec_ followed by base64. Use “Generate a new "
            "signature key”.",
            "inbound_secret": "When set, inbound requests must carry a valid signature.",
        }
        for name, label in EVENT_SECRETS.items():
            field = f"events__{name}"
            help_text = helps[name]
            if unreadable:
                help_text = "The stored secrets cannot be decrypted: type this again, or remove it."
            self.fields[field] = _secret(label.capitalize(), is_set=name in stored,
                                         help_text=help_text)  # fmt: skip
            if name in stored or unreadable:
                self.fields[f"{field}__clear"] = forms.BooleanField(
                    label=f"Remove the stored {label}", required=False
                )

    # --- fields -------------------------------------------------------------------------------

    def _add_fields(
        self, mode: AuthMode, specs: tuple[FieldSpec, ...], prefix: str, stored: set[str]
    ) -> None:
        for spec in specs:
            path = f"{prefix}{spec.name}"
            name = field_name(mode.name, path)
            if spec.kind is Kind.OBJECT:
                if _toggled(spec):
                    self.fields[f"{name}__enabled"] = forms.BooleanField(
                        label=spec.label, required=False, help_text=spec.help
                    )
                self._add_fields(mode, spec.fields, f"{path}.", stored)
                continue
            self.fields[name] = self._form_field(spec, is_set=path in stored)
            if spec.secret and path in stored:
                self.fields[f"{name}__clear"] = forms.BooleanField(
                    label=f"Remove the stored {spec.label.lower()}", required=False
                )

    @staticmethod
    def _form_field(spec: FieldSpec, *, is_set: bool) -> forms.Field:
        attrs = {"placeholder": spec.placeholder} if spec.placeholder else {}
        if spec.secret:
            return forms.CharField(
                label=spec.label, required=False, strip=False,
                widget=forms.PasswordInput(render_value=False,
                                           attrs={"autocomplete": "new-password"}),
                help_text="Stored and unchanged; type a new value to replace it."
                if is_set else (spec.help or "Not set."),
            )  # fmt: skip
        if spec.kind is Kind.CHOICE:
            return forms.ChoiceField(
                label=spec.label, choices=list(spec.choices), initial=spec.default,
                required=False, help_text=spec.help,
            )  # fmt: skip
        if spec.kind in (Kind.LONG_TEXT, Kind.HEADERS):
            if spec.kind is Kind.HEADERS:
                attrs.setdefault("placeholder", "Name: value (one per line)")
            widget: forms.Widget = forms.Textarea(
                attrs={"rows": 3, "class": "vLargeTextField", **attrs}
            )
        else:
            css = "vURLField" if spec.kind is Kind.URL else "vTextField"
            widget = forms.TextInput(attrs={"class": css, **attrs})
        initial = spec.default
        if spec.kind in (Kind.INTEGERS, Kind.TEXTS) and initial is not None:
            initial = ", ".join(str(v) for v in initial)
        return forms.CharField(
            label=spec.label, required=False, initial=initial, help_text=spec.help, widget=widget
        )

    def _set_initial(self) -> None:
        ds = self.datasource
        initial: dict[str, Any] = {
            "name": ds.name, "slug": ds.slug, "base_url": ds.base_url, "docs_url": ds.docs_url,
            "health_check_path": ds.health_check_path,
            "timeout_seconds": ds.timeout_seconds if ds.base_url else NEW_TIMEOUT,
            "bulk_concurrency": ds.bulk_concurrency, "auth_mode": ds.auth_mode,
        }  # fmt: skip
        mode = MODES.get(ds.auth_mode)
        if mode is not None:
            self._initial_of(mode, mode.all_fields(), "", ds.auth_config or {}, initial)
        ping = ds.ping or {}
        initial.update(
            ping__method=ping.get("method", "GET"),
            ping__path=ping.get("path", ""),
            ping__success_path=ping.get("success_path", ""),
            ping__success_values=", ".join(ping.get("success_values", [])),
        )
        initial.update(self.events_initial(), events_section="1")
        self.initial.update(initial)

    def events_initial(self) -> dict[str, Any]:
        """The Events fields as the stored settings fill them (what a save compares with)."""
        config = self.datasource.events_config or {}
        poll = config.get("poll") or {}
        id_path = poll.get("id_path")
        return {
            "events__enabled": bool(config.get("enabled")),
            "events__callback_url": config.get("callback_url") or "",
            "events__inbound_signature_scheme": config.get("inbound_signature_scheme")
            or DEFAULT_SCHEME,
            "events__inbound_signature_header": config.get("inbound_signature_header") or "",
            "events__poll__enabled": bool(poll.get("enabled")),
            "events__poll__path": poll.get("path") or "",
            "events__poll__interval_seconds": str(
                poll.get("interval_seconds") or DEFAULT_POLL_INTERVAL
            ),
            "events__poll__results_path": poll.get("results_path") or "",
            "events__poll__id_path": "id" if id_path is None else id_path,
            "events__poll__updated_path": poll.get("updated_path") or "",
        }

    def _initial_of(
        self, mode: AuthMode, specs: tuple[FieldSpec, ...], prefix: str, config: Any, out: dict
    ) -> None:
        for spec in specs:
            path = f"{prefix}{spec.name}"
            name = field_name(mode.name, path)
            value = get_path(config, path)
            if spec.kind is Kind.OBJECT:
                if _toggled(spec):
                    out[f"{name}__enabled"] = bool(value)
                self._initial_of(mode, spec.fields, f"{path}.", config, out)
            elif spec.secret or value is None:
                continue
            elif spec.kind is Kind.HEADERS:
                out[name] = "\n".join(f"{h['name']}: {h.get('value', '')}" for h in value)
            elif spec.kind in (Kind.INTEGERS, Kind.TEXTS):
                out[name] = ", ".join(str(v) for v in value)
            else:
                out[name] = value

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

    def _auth_values(self, mode: AuthMode, specs: tuple[FieldSpec, ...], prefix: str) -> dict:
        c = self.cleaned_data
        values: dict[str, Any] = {}
        for spec in specs:
            path = f"{prefix}{spec.name}"
            name = field_name(mode.name, path)
            if spec.kind is Kind.OBJECT:
                if _toggled(spec) and not c.get(f"{name}__enabled"):
                    values[spec.name] = None
                else:
                    values[spec.name] = self._auth_values(mode, spec.fields, f"{path}.")
            elif spec.secret:
                if c.get(name):
                    values[spec.name] = c[name]
                elif c.get(f"{name}__clear"):
                    values[spec.name] = None
            elif spec.kind is Kind.HEADERS:
                values[spec.name] = [
                    {"name": line.split(":", 1)[0].strip(), "value": line.split(":", 1)[1].strip()}
                    for line in (c.get(name) or "").splitlines()
                    if line.strip()
                ]
            elif spec.kind in (Kind.INTEGERS, Kind.TEXTS):
                values[spec.name] = _comma_list(c.get(name) or "")
            elif spec.kind is Kind.CHOICE:
                if c.get(name):
                    values[spec.name] = c[name]
            else:
                values[spec.name] = c.get(name) or ""
        return values

    def _events_values(self) -> dict[str, Any]:
        """The Events settings that differ from the stored ones, and the secrets typed or
        removed: a save that leaves the section alone writes nothing to events."""
        c = self.cleaned_data
        stored = self.events_initial()

        def changed(name: str) -> bool:
            value = c.get(name)
            return (value if isinstance(value, bool) else value or "") != stored[name]

        events: dict[str, Any] = {}
        for key in EVENT_KEYS:
            name = f"events__{key}"
            if not changed(name) or (key == "inbound_signature_scheme" and not c.get(name)):
                continue
            events[key] = None if key == "callback_url" and not c.get(name) else c.get(name)
        for key in EVENT_SECRETS:
            name = f"events__{key}"
            if c.get(name):
                events[key] = c[name]
            elif c.get(f"{name}__clear"):
                events[key] = None
        poll: dict[str, Any] = {}
        for key in POLL_KEYS:
            name = f"events__poll__{key}"
            if changed(name):
                value = c.get(name)
                if key == "interval_seconds":
                    text = (value or "").strip()
                    value = int(text) if text.isdigit() else text or DEFAULT_POLL_INTERVAL
                poll[key] = value
        if poll:
            events["poll"] = poll
        return events

    def to_data(self) -> dict[str, Any]:
        """What was typed, as the API's write shape (``events`` only with something to write)."""
        c = self.cleaned_data
        mode = MODES[c["auth_mode"]]
        timeout = (c.get("timeout_seconds") or "").strip()
        concurrency = (c.get("bulk_concurrency") or "").strip()
        data: dict[str, Any] = {
            "name": c.get("name") or "",
            "slug": c.get("slug") or "",
            "base_url": c.get("base_url") or "",
            "docs_url": c.get("docs_url") or "",
            "health_check_path": c.get("health_check_path") or "",
            "timeout_seconds": timeout or DEFAULT_TIMEOUT,
            "bulk_concurrency": concurrency or DEFAULT_BULK_CONCURRENCY,
            "headers": self.headers_typed(),
            "auth": {"mode": mode.name, **self._auth_values(mode, mode.all_fields(), "")},
            "ping": {
                "method": c.get("ping__method") or "GET",
                "path": c.get("ping__path") or "",
                "success_path": c.get("ping__success_path") or "",
                "success_values": _comma_list(c.get("ping__success_values", "")),
            },
        }
        if c.get("events_section") and (events := self._events_values()):
            data["events"] = events
        return data

    # --- errors ---------------------------------------------------------------------------------

    def add_errors(self, exc: ValidationError | DRFValidationError) -> None:
        """Show a serializer's or a service's errors next to the fields they name, in words
        (a field's label, never its key)."""
        if isinstance(exc, ValidationError):
            exc = self._secrets_on_their_fields(exc)
            if exc is None:
                return
        detail = (
            exc.detail if isinstance(exc, DRFValidationError) else django_validation_detail(exc)
        )
        mode = self._mode()
        for key, _code, message in flatten_validation(detail):
            target = self._field_for(key, mode)
            if target == "headers":
                self.header_errors.append(message)
            elif target in self.fields:
                self.add_error(target, self._plain(target, message))
            else:
                self.add_error(None, message)

    def _mode(self) -> str:
        return (getattr(self, "cleaned_data", None) or {}).get(
            "auth_mode"
        ) or self.datasource.auth_mode

    def _plain(self, name: str, message: str) -> str:
        """The serializer's generic sentences, said for this field."""
        label = str(self.fields[name].label or name).lower()
        if message in GENERIC_REQUIRED:
            if name == "base_url":
                return "Give the API's base URL, e.g. https://api.example.com/v1."
            return f"Give the {label}."
        if message == "A valid integer is required.":
            return "Type a whole number."
        return message

    def _secrets_on_their_fields(self, exc: ValidationError) -> ValidationError | None:
        """Put "the secrets go to a new host" on each secret that must be typed again; what
        remains is returned (None: nothing)."""
        if not hasattr(exc, "error_dict"):
            return exc
        mode, rest = self._mode(), {}
        for key, errors in exc.error_dict.items():
            kept = []
            for error in errors:
                secrets = (error.params or {}).get("secrets") or []
                fields = [field_name(mode, path) for path in secrets]
                if (
                    error.code != ErrorCode.SECRETS_REQUIRED
                    or not fields
                    or not all(name in self.fields for name in fields)
                ):
                    kept.append(error)
                    continue
                why = (
                    "it was stored for the old base URL's host"
                    if key == "base_url"
                    else "these settings now send it to another host"
                )
                for name in fields:
                    label = str(self.fields[name].label).lower()
                    self.add_error(
                        name,
                        f"Type the {label} again: {why}, and a stored secret is never sent to a "
                        "new host unless it is typed again.",
                    )
            if kept:
                rest[key] = kept
        return ValidationError(rest) if rest else None

    def error_fields(self) -> list[dict[str, Any]]:
        """Each field's errors with the field's id and label, for the page's script (the
        connection test answers them as JSON); custom headers as one entry."""
        fields = [
            {"name": name, "id": self[name].auto_id, "label": str(self.fields[name].label),
             "messages": [str(message) for message in errors]}
            for name, errors in self.errors.items()
            if name in self.fields
        ]  # fmt: skip
        if self.header_errors:
            fields.append({"name": "headers", "id": "header-rows", "label": "Custom headers",
                           "messages": list(self.header_errors)})  # fmt: skip
        return fields

    def _field_for(self, key: str, mode: str) -> str | None:
        parts = [p for p in key.split(".") if p]
        if not parts:
            return None
        head = parts[0]
        if head == "headers":
            return "headers"
        if head == "ping" and len(parts) > 1:
            return f"ping__{parts[1]}"
        if head == "events":
            return self._events_field_for(parts[1:])
        if head == "auth":
            rest = parts[1:]
            if not rest or rest == ["mode"]:
                return "auth_mode"
            while rest:  # the longest prefix that names a field (list indexes dropped)
                for candidate in (field_name(mode, ".".join(rest)),
                                  field_name(mode, ".".join(rest)) + "__enabled"):  # fmt: skip
                    if candidate in self.fields:
                        return candidate
                rest = rest[:-1]
            return "auth_mode"
        return head if head in self.fields else None

    def _events_field_for(self, rest: list[str]) -> str:
        if rest[:1] == ["poll"]:
            name = f"events__poll__{rest[1]}" if len(rest) > 1 else ""
            return name if name in self.fields else "events__poll__enabled"
        name = f"events__{rest[0]}" if rest else ""
        return name if name in self.fields else "events__enabled"

    # --- layout ---------------------------------------------------------------------------------

    @property
    def interactive_modes(self) -> list[str]:
        """Modes whose access a person grants in a browser (they get "Save and connect")."""
        return [mode.name for mode in MODES.values() if mode.interactive]

    def mode_sections(self) -> list[dict[str, Any]]:
        """Per mode: its fields, with object settings as groups (a checkbox switches on an
        optional one)."""
        sections = []
        for mode in MODES.values():
            rows: list[dict[str, Any]] = []
            for spec in mode.all_fields():
                name = field_name(mode.name, spec.name)
                if spec.kind is Kind.OBJECT:
                    rows.append({"group": {
                        "id": f"group-{name}",
                        "label": spec.label,
                        "help": spec.help,
                        "toggle": self[f"{name}__enabled"] if _toggled(spec) else None,
                        "fields": self._bound(mode, spec.fields, f"{spec.name}."),
                    }})  # fmt: skip
                else:
                    rows.extend({"field": bf} for bf in self._bound(mode, (spec,), ""))
            sections.append({"mode": mode.name, "label": mode.label, "rows": rows})
        return sections

    def _bound(
        self, mode: AuthMode, specs: tuple[FieldSpec, ...], prefix: str
    ) -> list[forms.BoundField]:
        bound = []
        for spec in specs:
            name = field_name(mode.name, f"{prefix}{spec.name}")
            if name in self.fields:
                bound.append(self[name])
            if f"{name}__clear" in self.fields:
                bound.append(self[f"{name}__clear"])
        return bound


class DeleteConfirmForm(forms.Form):
    """Deleting a data source that others use: its name, typed, confirms it."""

    confirm_name = forms.CharField(
        label="Type its name to confirm", required=False, strip=True,
        widget=forms.TextInput(attrs={"class": "vTextField", "autocomplete": "off",
                                      "spellcheck": "false"}),
    )  # fmt: skip

    def __init__(self, *args: Any, datasource: DataSource, **kwargs: Any) -> None:
        self.datasource = datasource
        super().__init__(*args, **kwargs)
        self.fields["confirm_name"].help_text = f"Type “{datasource.name}”, as it is written."

    def clean_confirm_name(self) -> str:
        value = self.cleaned_data.get("confirm_name", "")
        if value != self.datasource.name.strip():
            raise ValidationError(
                f"That is not its name: type “{self.datasource.name}” exactly as written."
                if value
                else "Type the data source's name to confirm."
            )
        return value
