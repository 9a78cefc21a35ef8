from __future__ import annotations

from django import forms

from apps.tenants.models import ApiKeyScope


class ApiKeyForm(forms.Form):
    """The API keys page's create form. A widget key is the safer default: it only reaches the
    options endpoint, and only from the origins it names (the service refuses one without)."""

    name = forms.CharField(
        max_length=100,
        required=False,
        widget=forms.TextInput(attrs={"placeholder": "Jira widget", "autocomplete": "off"}),
        help_text="What the key is for; unique among the active keys. Left empty, the key is "
        "named after its scope.",
    )
    scope = forms.ChoiceField(
        # Short labels, so that the choice fits a phone's width; the help says the rest.
        choices=[(ApiKeyScope.WIDGET, "Widget (options only)"), (ApiKeyScope.ADMIN, "Admin")],
        initial=ApiKeyScope.WIDGET,
        help_text="Widget keys are safe in a web page: they only read options, and only from "
        "their allowed origins. Admin keys manage all of this tenant's objects: keep them on "
        "servers.",
    )
    allowed_origins = forms.CharField(
        required=False,
        widget=forms.Textarea(
            attrs={"rows": 3, "placeholder": "https://intranet.example.com", "spellcheck": "false"}
        ),
        help_text="Widget keys: the origin of each page that shows the widget (scheme, host and "
        "port, no path), one per line. Browsers on other origins are refused.",
    )

    def clean_allowed_origins(self) -> list[str]:
        raw = self.cleaned_data.get("allowed_origins") or ""
        return [line.strip() for line in raw.splitlines() if line.strip()]
