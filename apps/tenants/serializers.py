from __future__ import annotations

from rest_framework import serializers

from apps.tenants.models import ApiKey, ApiKeyScope


class ApiKeyOutputSerializer(serializers.ModelSerializer):
    prefix = serializers.CharField(source="display_prefix", read_only=True)
    active = serializers.BooleanField(source="is_active", read_only=True)

    class Meta:
        model = ApiKey
        fields = [
            "id",
            "name",
            "scope",
            "prefix",
            "allowed_origins",
            "active",
            "created_at",
            "last_used_at",
            "revoked_at",
        ]
        read_only_fields = fields


class ApiKeyCreatedSerializer(ApiKeyOutputSerializer):
    key = serializers.CharField(read_only=True, help_text="Shown once; store it now.")

    class Meta(ApiKeyOutputSerializer.Meta):
        fields = [*ApiKeyOutputSerializer.Meta.fields, "key"]
        read_only_fields = fields


class ApiKeyInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    scope = serializers.ChoiceField(choices=ApiKeyScope.choices)
    allowed_origins = serializers.ListField(
        child=serializers.CharField(max_length=300), required=False, max_length=50
    )
