from __future__ import annotations

from django import forms

from apps.tenants.models import ApiKeyScope


class ApiKeyForm(forms.Form):
    name = forms.CharField(
        max_length=100,
        required=False,
        help_text="What the key is for, e.g. 'Jira widget' or 'CI automation'.",
    )
    scope = forms.ChoiceField(choices=ApiKeyScope.choices, initial=ApiKeyScope.ADMIN)
    allowed_origins = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "https://intranet.example.com"}),
        help_text="Widget keys only: one origin per line. Browsers on other origins are refused.",
    )

    def clean_allowed_origins(self) -> list[str]:
        raw = self.cleaned_data.get("allowed_origins") or ""
        return [line.strip() for line in raw.splitlines() if line.strip()]
