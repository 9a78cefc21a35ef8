from __future__ import annotations

from rest_framework import serializers

from apps.items.models import ConnectedItem
from apps.items.rendering import dependencies


class ItemSerializer(serializers.ModelSerializer):
    """A connected item. ``{name}`` placeholders in path and body are its dependencies."""

    datasource = serializers.UUIDField(source="datasource_id")
    dependencies = serializers.SerializerMethodField()

    class Meta:
        model = ConnectedItem
        fields = ["key", "name", "datasource", "method", "path", "body", "results_path", "value",
                  "label", "dependencies", "created_at", "updated_at"]  # fmt: skip
        read_only_fields = ["dependencies", "created_at", "updated_at"]

    def get_dependencies(self, item: ConnectedItem) -> list[str]:
        return dependencies(item.path, item.body)


class OptionSerializer(serializers.Serializer):
    value = serializers.CharField()
    label = serializers.CharField()


class OptionsSerializer(serializers.Serializer):
    options = OptionSerializer(many=True)
    cache = serializers.ChoiceField(choices=["hit", "miss", "stale"])
    fetched_at = serializers.DateTimeField()
