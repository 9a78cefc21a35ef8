"""Serializers that document the data source API (OpenAPI); the services do the validating."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample
from rest_framework import serializers

from apps.datasources.models import AuthModeName, Status
from apps.outbound.auth import MODES
from apps.outbound.auth.providers import PROVIDERS


class HeaderSerializer(serializers.Serializer):
    name = serializers.CharField()
    value = serializers.CharField(allow_blank=True)


class PingSerializer(serializers.Serializer):
    method = serializers.ChoiceField(choices=["GET", "HEAD", "POST"], default="GET")
    path = serializers.CharField(allow_blank=True, required=False)
    success_path = serializers.CharField(allow_blank=True, required=False)
    success_values = serializers.ListField(child=serializers.CharField(), required=False)


class ExpiredWhenSerializer(serializers.Serializer):
    status_codes = serializers.ListField(child=serializers.IntegerField(), required=False)
    body_path = serializers.CharField(required=False)
    body_values = serializers.ListField(child=serializers.CharField(), required=False)


class RefreshRecipeSerializer(serializers.Serializer):
    method = serializers.ChoiceField(choices=["GET", "POST", "PUT", "PATCH"], default="POST")
    path = serializers.CharField(help_text="Relative to base_url, or an absolute https URL.")
    headers = HeaderSerializer(many=True, required=False)
    body = serializers.CharField(
        required=False,
        help_text="Template: {{username}}, {{password}}, {{refresh_token}}, {{token}}",
    )
    media_type = serializers.ChoiceField(choices=["json", "form"], default="json")
    token_path = serializers.CharField(default="access_token")
    expires_in_path = serializers.CharField(default="expires_in")
    refresh_token_path = serializers.CharField(required=False, default="refresh_token")
    username = serializers.CharField(required=False)
    password = serializers.CharField(required=False, write_only=True, allow_null=True)
    refresh_token = serializers.CharField(required=False, write_only=True, allow_null=True)


class AuthSerializer(serializers.Serializer):
    """Auth settings; fields depend on ``mode``. Secrets are write-only: a read lists them in
    ``secrets_set``. On PATCH an omitted secret keeps its value and null clears it."""

    mode = serializers.ChoiceField(choices=AuthModeName.choices)
    # basic
    username = serializers.CharField(required=False)
    password = serializers.CharField(required=False, write_only=True, allow_null=True)
    # api_key
    name = serializers.CharField(required=False)
    value = serializers.CharField(required=False, write_only=True, allow_null=True)
    # api_key and token
    location = serializers.ChoiceField(choices=["header", "query"], required=False)
    # token
    token = serializers.CharField(required=False, write_only=True, allow_null=True)
    header_name = serializers.CharField(required=False)
    scheme = serializers.CharField(required=False, allow_blank=True)
    param_name = serializers.CharField(required=False)
    refresh = RefreshRecipeSerializer(required=False, allow_null=True)
    # OAuth 2.0
    token_url = serializers.CharField(required=False)
    client_id = serializers.CharField(required=False)
    client_secret = serializers.CharField(required=False, write_only=True, allow_null=True)
    scope = serializers.CharField(required=False, allow_blank=True)
    audience = serializers.CharField(required=False, allow_blank=True)
    client_auth = serializers.ChoiceField(choices=["basic", "body"], required=False)
    provider = serializers.ChoiceField(choices=list(PROVIDERS), required=False)
    authorize_url = serializers.CharField(required=False)
    expired_when = ExpiredWhenSerializer(required=False)
    # read-only
    secrets_set = serializers.ListField(child=serializers.CharField(), read_only=True)
    connected = serializers.BooleanField(read_only=True, required=False)
    connect_url = serializers.CharField(read_only=True, required=False)

    def get_fields(self):
        fields = super().get_fields()
        fields["in"] = fields.pop("location")  # "in" is a Python keyword
        return fields


class DataSourceSerializer(serializers.Serializer):
    id = serializers.UUIDField(read_only=True)
    name = serializers.CharField(max_length=200)
    type = serializers.ChoiceField(choices=["rest"], read_only=True)
    slug = serializers.SlugField(required=False, help_text="Defaults to a slug of the name.")
    base_url = serializers.CharField(help_text="https:// only.")
    docs_url = serializers.CharField(required=False, allow_blank=True)
    health_check_path = serializers.CharField(required=False, allow_blank=True)
    timeout_seconds = serializers.IntegerField(min_value=1, max_value=60, default=60)
    headers = HeaderSerializer(many=True, required=False, help_text="At most 20; not for secrets.")
    auth = AuthSerializer()
    ping = PingSerializer(required=False)
    status = serializers.ChoiceField(choices=Status.choices, read_only=True)
    last_error = serializers.CharField(read_only=True, allow_null=True)
    last_tested_at = serializers.DateTimeField(read_only=True, allow_null=True)
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)


class StepSerializer(serializers.Serializer):
    name = serializers.ChoiceField(choices=["dns", "connect", "tls", "auth", "request", "check"])
    ok = serializers.BooleanField()
    detail = serializers.CharField()


class ConnectionTestSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    status_code = serializers.IntegerField(allow_null=True)
    message = serializers.CharField()
    elapsed_ms = serializers.FloatField()
    steps = StepSerializer(many=True)


class PurgeSerializer(serializers.Serializer):
    purged = serializers.IntegerField()


BASE_EXAMPLE = {
    "name": "Jira",
    "slug": "jira-cloud",
    "base_url": "https://example.atlassian.net/rest/api/3",
    "docs_url": "https://developer.atlassian.com/cloud/jira/platform/rest/v3/",
    "health_check_path": "/serverInfo",
    "timeout_seconds": 60,
    "headers": [{"name": "X-Env", "value": "prod"}],
    "ping": {
        "method": "GET",
        "path": "/myself",
        "success_path": "active",
        "success_values": ["true"],
    },
}

AUTH_EXAMPLES = [
    OpenApiExample(
        f"auth: {name}",
        value={**BASE_EXAMPLE, "auth": mode.example},
        request_only=True,
    )
    for name, mode in MODES.items()
]
