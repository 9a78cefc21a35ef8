"""What a client writes to start a bulk job, validated once for the API and the pages."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from apps.core.codes import ErrorCode
from apps.core.payloads import json_object
from apps.core.serializers import StrictSerializer
from apps.items.rendering import PLACEHOLDER
from apps.outbound.policy import relative_path_problem

UPLOAD_METHODS = ("POST", "PUT", "PATCH")
STYLES = ("none", "offset", "page", "cursor", "link")
MAX_RECORDS = 10_000_000
MAX_PAGE_SIZE = 10_000
MAX_FIELDS = 500
PATH_REQUIRED = "Give the path to send to, like /contacts."


def _path(value: str) -> str:
    value = (value or "").strip()
    if not value:
        raise serializers.ValidationError(PATH_REQUIRED, code=ErrorCode.REQUIRED)
    problem = relative_path_problem(value)
    if problem:
        raise serializers.ValidationError(problem, code=ErrorCode.INVALID_PATH)
    return value


class UploadSerializer(StrictSerializer):
    """An upload's settings (the API takes them from the query string)."""

    path = serializers.CharField(
        max_length=2000,
        help_text="Relative to the data source's base URL; {column} placeholders take each "
        "row's value, URL-encoded (e.g. /contacts/{id} with PATCH).",
    )
    method = serializers.ChoiceField(choices=UPLOAD_METHODS, required=False, default="POST")

    def validate_path(self, value: str) -> str:
        return _path(value)


class PaginationSerializer(StrictSerializer):
    style = serializers.ChoiceField(choices=STYLES, required=False, default="none")
    param = serializers.CharField(
        max_length=100, required=False, allow_blank=True,
        help_text="The query parameter of the offset, page number or cursor (default offset, "
        "page, cursor).",
    )  # fmt: skip
    size_param = serializers.CharField(max_length=100, required=False, allow_blank=True,
                                       help_text="The query parameter of the page size.")  # fmt: skip
    size = serializers.IntegerField(
        min_value=1, max_value=MAX_PAGE_SIZE, required=False,
        help_text="Records per page: sent as size_param, and a shorter page is the last.",
    )  # fmt: skip
    cursor_path = serializers.CharField(
        max_length=200, required=False, allow_blank=True,
        help_text="Dotted path of the next page's cursor in each answer (cursor style).",
    )  # fmt: skip
    start = serializers.IntegerField(
        min_value=0, required=False,
        help_text="The first page number (page style, default 1) or offset (default 0).",
    )  # fmt: skip

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("style") == "cursor" and not attrs.get("cursor_path"):
            raise serializers.ValidationError(
                {"cursor_path": "Say where each answer holds the next cursor, like next.cursor."}
            )
        return attrs


class QuerySerializer(StrictSerializer):
    """A query job: every page of a list, one CSV row per record."""

    path = serializers.CharField(max_length=2000, help_text="Relative to the base URL.")
    results_path = serializers.CharField(
        max_length=200, required=False, allow_blank=True, default="",
        help_text="Dotted path to the list in each answer; empty: the answer is the list.",
    )  # fmt: skip
    pagination = PaginationSerializer(required=False)
    fields = serializers.ListField(
        child=serializers.CharField(max_length=200), required=False, max_length=MAX_FIELDS,
        help_text="Dotted paths, one CSV column each; default the first record's keys "
        "(nested ones flattened with dots).",
    )  # fmt: skip
    max_records = serializers.IntegerField(min_value=1, max_value=MAX_RECORDS, required=False,
                                           default=1_000_000)  # fmt: skip

    def validate_path(self, value: str) -> str:
        value = _path(value)
        if PLACEHOLDER.search(value):
            raise serializers.ValidationError(
                "A query's path has no placeholders.", code=ErrorCode.INVALID_PATH
            )
        return value

    def validate_fields(self, value: list[str]) -> list[str]:
        names = [name.strip() for name in value]
        if any(not name for name in names):
            raise serializers.ValidationError("A field may not be empty.")
        if len(set(names)) != len(names):
            raise serializers.ValidationError("A field is named twice.")
        return names


def upload_input(data: Any) -> dict[str, Any]:
    serializer = UploadSerializer(data=json_object(data))
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def query_input(data: Any) -> dict[str, Any]:
    serializer = QuerySerializer(data=json_object(data))
    serializer.is_valid(raise_exception=True)
    spec = dict(serializer.validated_data)
    spec["pagination"] = dict(spec.get("pagination") or {"style": "none"})
    return spec
