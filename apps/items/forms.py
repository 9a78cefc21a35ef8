from __future__ import annotations

from typing import Any

from django import forms

from apps.datasources.models import DataSource
from apps.tenants.models import Tenant

# Methods whose request carries a body (the page shows the Body field for these only).
METHODS_WITH_BODY = ("POST",)


class ItemForm(forms.Form):
    """The item page's form. Examples are placeholders (greyed, never sent), not values."""

    key = forms.CharField(
        max_length=100,
        help_text="Names the item in the API and in widgets (data-plugboard-item): letters, "
        "digits, hyphens and underscores. Filled in from the name until you edit it.",
        widget=forms.TextInput(attrs={"class": "vTextField", "autocomplete": "off",
                                      "spellcheck": "false", "placeholder": "jira-issue"}),
        error_messages={"required": "Give the item a key, like jira-issue."},
    )  # fmt: skip
    name = forms.CharField(
        max_length=200,
        widget=forms.TextInput(attrs={"class": "vTextField", "placeholder": "Jira issue"}),
        error_messages={"required": "Give the item a name, like Jira issue."},
    )
    datasource = forms.ChoiceField(label="Data source")
    method = forms.ChoiceField(choices=[("GET", "GET"), ("POST", "POST")], initial="GET")
    path = forms.CharField(
        max_length=2000, required=False,
        widget=forms.TextInput(attrs={"class": "vLargeTextField", "spellcheck": "false",
                                      "placeholder": "/search?project={project}"}),
        help_text="Relative to the data source's base URL. {name} placeholders are dependencies, "
        "filled from the widget's other fields and URL-encoded.",
    )  # fmt: skip
    body = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "class": "vLargeTextField", "spellcheck": "false",
                                     "placeholder": '{"project": "{project}"}'}),
        help_text="JSON sent with the POST, with each placeholder inside a string.",
    )  # fmt: skip
    results_path = forms.CharField(
        label="Results path", max_length=500, required=False,
        widget=forms.TextInput(attrs={"class": "vTextField", "spellcheck": "false",
                                      "placeholder": "data.items"}),
        help_text="Dotted path to the list in the answer, like data.items or 0.rows; empty when "
        "the answer itself is the list.",
    )  # fmt: skip
    value = forms.CharField(
        max_length=500,
        help_text="What the form stores: a template over each element of the list, like {id}.",
        widget=forms.TextInput(attrs={"class": "vTextField", "spellcheck": "false",
                                      "placeholder": "{id}"}),
        error_messages={"required": "Give a template, like {id}."},
    )  # fmt: skip
    label = forms.CharField(
        max_length=500,
        help_text="What users see: a template over each element, like {key} – {fields.summary}.",
        widget=forms.TextInput(attrs={"class": "vTextField", "spellcheck": "false",
                                      "placeholder": "{key} – {fields.summary}"}),
        error_messages={"required": "Give a template, like {key} – {fields.summary}."},
    )  # fmt: skip

    def __init__(self, *args: Any, tenant: Tenant, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        sources = DataSource.objects.filter(tenant=tenant).order_by("name")
        self.fields["datasource"].choices = [(str(ds.pk), ds.name) for ds in sources]

    @property
    def body_hidden(self) -> bool:
        """The Body field stays out of sight for a method without a body, unless it holds
        something (or an error) the user must see."""
        body = self["body"]
        return (
            self["method"].value() not in METHODS_WITH_BODY and not body.value() and not body.errors
        )

    def to_data(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        data["body"] = data.get("body") or None
        return data

    def add_service_errors(self, exc: Any) -> None:
        for field, messages in exc.message_dict.items():
            for message in messages:
                self.add_error(field if field in self.fields else None, message)
