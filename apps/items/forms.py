from __future__ import annotations

from typing import Any

from django import forms

from apps.datasources.models import DataSource
from apps.tenants.models import Tenant


class ItemForm(forms.Form):
    key = forms.CharField(
        max_length=100,
        help_text="Names the item in the API and in widgets (data-plugboard-item).",
        widget=forms.TextInput(attrs={"class": "vTextField", "autocomplete": "off"}),
    )
    name = forms.CharField(max_length=200, widget=forms.TextInput(attrs={"class": "vTextField"}))
    datasource = forms.ChoiceField(label="Data source")
    method = forms.ChoiceField(choices=[("GET", "GET"), ("POST", "POST")], initial="GET")
    path = forms.CharField(
        max_length=2000, required=False,
        widget=forms.TextInput(attrs={"class": "vLargeTextField", "placeholder": "/search?project={project}"}),
        help_text="Relative to the data source's base URL. {name} placeholders are dependencies, "
        "filled from the widget's other fields and URL-encoded.",
    )  # fmt: skip
    body = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "class": "vLargeTextField",
                                     "placeholder": '{"project": "{project}"}'}),
        help_text="POST only: JSON, with each placeholder inside a string.",
    )  # fmt: skip
    results_path = forms.CharField(
        label="Results path", max_length=500, required=False,
        help_text="Dotted path to the list in the answer, e.g. data.items or 0.rows; empty when "
        "the answer itself is the list.",
    )  # fmt: skip
    value = forms.CharField(
        max_length=500, help_text="Template over each element, e.g. {id} or {key}.",
        widget=forms.TextInput(attrs={"class": "vTextField"}),
    )  # fmt: skip
    label = forms.CharField(
        max_length=500, help_text="What users see, e.g. {key} – {fields.summary}.",
        widget=forms.TextInput(attrs={"class": "vTextField"}),
    )  # fmt: skip

    def __init__(self, *args: Any, tenant: Tenant, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        sources = DataSource.objects.filter(tenant=tenant).order_by("name")
        self.fields["datasource"].choices = [(str(ds.pk), ds.name) for ds in sources]

    def to_data(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        data["body"] = data.get("body") or None
        return data

    def add_service_errors(self, exc: Any) -> None:
        for field, messages in exc.message_dict.items():
            for message in messages:
                self.add_error(field if field in self.fields else None, message)
