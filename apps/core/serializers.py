"""Serializer bases shared by the APIs."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from apps.core.codes import ErrorCode


class StrictSerializer(serializers.Serializer):
    """Refuses fields it does not know; the read-only fields of its own representation are
    accepted and ignored, so a client may send back what it read."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(
                    {
                        name: [
                            serializers.ErrorDetail(
                                f"{name!r} is not a field of this resource.",
                                code=ErrorCode.UNKNOWN_FIELD,
                            )
                        ]
                        for name in unknown
                    }
                )
        return super().to_internal_value(data)
