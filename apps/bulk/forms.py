"""The bulk forms of the pages. They only gather what was typed: the API's inputs
(``inputs.upload_input``, ``inputs.query_input``) and the services validate it, and their errors
are put under the fields they name, in the API's words."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.template.defaultfilters import filesizeformat
from rest_framework.exceptions import ValidationError as DRFValidationError

from apps.bulk.inputs import (
    MAX_RECORDS,
    PATH_REQUIRED,
    UPLOAD_METHODS,
    PaginationSerializer,
    QuerySerializer,
    UploadSerializer,
)
from apps.core.errors import django_validation_detail, flatten_validation

STYLE_CHOICES = [
    ("none", "None: one request"),
    ("offset", "Offset (offset=0, 100, 200…)"),
    ("page", "Page number (page=1, 2, 3…)"),
    ("cursor", "Cursor (a value from each answer)"),
    ("link", 'Link header (rel="next")'),
]
# The pagination settings each style uses (the others are hidden and not sent).
STYLE_PARAMS: dict[str, tuple[str, ...]] = {
    "none": (),
    "offset": ("param", "size_param", "size", "start"),
    "page": ("param", "size_param", "size", "start"),
    "cursor": ("param", "cursor_path", "size_param", "size"),
    "link": ("size_param", "size"),
}
PAGINATION_FIELDS = ("param", "size_param", "size", "start", "cursor_path")
# Examples for the page parameter, by style (Jira's startAt, most APIs' page, a cursor's after).
PARAM_EXAMPLES = {"offset": "startAt", "page": "page", "cursor": "after"}


def size_words(size: int) -> str:
    """``100 MB``; a limit that is not whole megabytes in Django's words."""
    return f"{size // 2**20} MB" if size % 2**20 == 0 else str(filesizeformat(size))


def _help(serializer: type, name: str) -> str:
    return str(serializer().fields[name].help_text or "")


def _text(placeholder: str = "", css: str = "vTextField", **attrs: Any) -> forms.TextInput:
    attrs = {"class": css, "autocomplete": "off", "spellcheck": "false", **attrs}
    if placeholder:
        attrs["placeholder"] = placeholder
    return forms.TextInput(attrs=attrs)


class ApiErrorsMixin:
    """Puts the API's validation errors under the form's fields."""

    def field_for(self, key: str) -> str | None:
        head = key.split(".")[0]
        return head if head in self.fields else None  # type: ignore[attr-defined]

    def shows(self, name: str) -> bool:
        return True

    def rows(self) -> list[tuple[forms.BoundField, bool]]:
        """Each field, and whether it is hidden (a setting the chosen options do not use)."""
        return [(self[name], not self.shows(name)) for name in self.fields]  # type: ignore[index,attr-defined]

    def add_input_errors(self, exc: ValidationError | DRFValidationError) -> None:
        detail = (
            exc.detail if isinstance(exc, DRFValidationError) else django_validation_detail(exc)
        )
        already = set(self.errors)  # type: ignore[attr-defined]
        for key, _code, message in flatten_validation(detail):
            target = self.field_for(key)
            if target is not None and target in already:
                continue  # the form said it already, in the same words or close to them
            self.add_error(target, message)  # type: ignore[attr-defined]


class UploadForm(ApiErrorsMixin, forms.Form):
    file = forms.FileField(
        label="CSV file",
        error_messages={
            "required": "Choose the CSV file to upload.",
            "empty": "The file is empty: choose a CSV file with a header row and rows after it.",
        },
        help_text=f"UTF-8 (a BOM is fine), at most {settings.BULK_MAX_UPLOAD_BYTES // 2**20} MB. "
        "The first row names the columns; each row after it is sent as a JSON object with those "
        "names as keys.",
        widget=forms.FileInput(attrs={"accept": ".csv,text/csv"}),
    )
    method = forms.ChoiceField(choices=[(m, m) for m in UPLOAD_METHODS], initial="POST")
    path = forms.CharField(
        max_length=2000,
        error_messages={"required": PATH_REQUIRED},
        help_text=_help(UploadSerializer, "path"),
        widget=_text("/contacts", css="vLargeTextField"),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "upload_%s")
        super().__init__(*args, **kwargs)
        self.fields["file"].widget.attrs["data-max-bytes"] = str(settings.BULK_MAX_UPLOAD_BYTES)
        self.fields["file"].widget.attrs["data-too-large"] = (
            f"The file is larger than {size_words(settings.BULK_MAX_UPLOAD_BYTES)}: split it."
        )

    def options(self) -> dict[str, Any]:
        """What the API takes from its query string."""
        return {
            name: self.data.get(name, "")
            for name in ("path", "method")
            if self.data.get(name) is not None
        }


def split_fields(text: str) -> list[str]:
    """One field a line, or comma separated; blank entries dropped."""
    return [name.strip() for name in re.split(r"[\r\n,]+", text or "") if name.strip()]


class QueryForm(ApiErrorsMixin, forms.Form):
    path = forms.CharField(
        max_length=2000,
        error_messages={"required": PATH_REQUIRED},
        help_text="Relative to the data source's base URL; it may carry a query string.",
        widget=_text("/search?jql=project=PB", css="vLargeTextField"),
    )
    results_path = forms.CharField(
        label="Results path",
        max_length=200,
        required=False,
        help_text=_help(QuerySerializer, "results_path") + " For example: issues, data.items.",
        widget=_text("issues"),
    )
    style = forms.ChoiceField(
        label="Pagination",
        choices=STYLE_CHOICES,
        initial="none",
        widget=forms.Select(attrs={"data-pagination-style": ""}),
    )
    param = forms.CharField(
        label="Page parameter",
        max_length=100,
        required=False,
        help_text=_help(PaginationSerializer, "param"),
        widget=_text("startAt"),
    )
    size_param = forms.CharField(
        label="Page size parameter",
        max_length=100,
        required=False,
        help_text=_help(PaginationSerializer, "size_param"),
        widget=_text("maxResults"),
    )
    size = forms.CharField(
        label="Page size",
        required=False,
        help_text=_help(PaginationSerializer, "size"),
        widget=forms.NumberInput(attrs={"min": 1, "class": "vIntegerField"}),
    )
    start = forms.CharField(
        label="First page or offset",
        required=False,
        help_text=_help(PaginationSerializer, "start"),
        widget=forms.NumberInput(attrs={"min": 0, "class": "vIntegerField"}),
    )
    cursor_path = forms.CharField(
        label="Cursor path",
        max_length=200,
        required=False,
        help_text=_help(PaginationSerializer, "cursor_path"),
        widget=_text("nextPageToken"),
    )
    fields = forms.CharField(
        label="Fields",
        required=False,
        help_text="The CSV's columns: dotted paths, one a line or comma separated. Empty: the "
        "first record's keys (nested ones flattened with dots).",
        widget=forms.Textarea(
            attrs={
                "rows": 3,
                "class": "vLargeTextField",
                "placeholder": "key\nfields.summary",
                "spellcheck": "false",
            }
        ),
    )
    max_records = forms.CharField(
        label="Max records",
        required=False,
        initial="1000000",
        help_text=f"Stops after this many records (at most {MAX_RECORDS:,}).",
        widget=forms.NumberInput(attrs={"min": 1, "max": MAX_RECORDS, "class": "vIntegerField"}),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "query_%s")
        super().__init__(*args, **kwargs)
        for name in PAGINATION_FIELDS:
            styles = [style for style, params in STYLE_PARAMS.items() if name in params]
            self.fields[name].widget.attrs["data-styles"] = " ".join(styles)
        param = self.fields["param"].widget.attrs
        for style, example in PARAM_EXAMPLES.items():
            param[f"data-placeholder-{style}"] = example
        param["placeholder"] = PARAM_EXAMPLES.get(self.chosen_style(), "startAt")

    def chosen_style(self) -> str:
        style = self.data.get("style") if self.is_bound else self.initial.get("style")
        return style if style in STYLE_PARAMS else "none"

    def shows(self, name: str) -> bool:
        """Whether a pagination setting belongs to the chosen style (the others are hidden)."""
        return name not in PAGINATION_FIELDS or name in STYLE_PARAMS[self.chosen_style()]

    def field_for(self, key: str) -> str | None:
        parts = key.split(".")
        if parts[0] == "pagination":
            name = parts[1] if len(parts) > 1 else "style"
            return name if name in PAGINATION_FIELDS else "style"
        return super().field_for(key)

    def to_data(self) -> dict[str, Any]:
        """The API's JSON body for what was typed (the chosen style's settings only)."""
        raw = self.data
        style = self.chosen_style()
        pagination: dict[str, Any] = {"style": raw.get("style") or "none"}
        for name in STYLE_PARAMS.get(style, ()):
            value = (raw.get(name) or "").strip()
            if value:
                pagination[name] = value
        data: dict[str, Any] = {
            "path": raw.get("path", ""),
            "results_path": (raw.get("results_path") or "").strip(),
            "pagination": pagination,
        }
        fields = split_fields(raw.get("fields", ""))
        if fields:
            data["fields"] = fields
        max_records = (raw.get("max_records") or "").strip()
        if max_records:
            data["max_records"] = max_records
        return data
