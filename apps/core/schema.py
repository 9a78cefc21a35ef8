"""The OpenAPI schema says what the API answers when it fails, as the contract does: every
error is ``{"error": {"code", "message", "details"}}``. Each operation lists the error statuses
it can answer (those every operation can, those of its method, and those its view adds with
``error_responses``), so that clients — and the schema fuzzing in the tests — can rely on them.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers

STATUS_SENTENCES = {
    400: "The request is not valid (the code and details say why).",
    401: "No valid API key or session.",
    403: "The key or user may not do this.",
    404: "No such object in this tenant.",
    409: "The object is not in a state that allows this.",
    410: "Gone: kept no longer.",
    411: "The body's length must be announced.",
    413: "The request body is too large.",
    415: "The body's media type is not accepted.",
    429: "Too many requests: wait for Retry-After.",
    502: "The upstream API failed, or could not be reached.",
    503: "A service Plugboard needs is unavailable; nothing was changed.",
    504: "The upstream API did not answer in time.",
}


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable snake_case code, e.g. validation_error.")
    message = serializers.CharField(help_text="A sentence saying what went wrong.")
    details = serializers.DictField(help_text="More about it (fields, limits, status codes).")


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()


def error_responses(*statuses: int) -> dict[int, OpenApiResponse]:
    """Error responses for ``extend_schema(responses=...)``: statuses an operation adds."""
    return {
        status: OpenApiResponse(ErrorSerializer, description=STATUS_SENTENCES[status])
        for status in statuses
    }


# Every operation: authentication, permission, another tenant's or no object, rate limits.
_EVERY = (401, 403, 404, 429)
# Operations that take a body: a malformed or invalid one, a media type not parsed; and any
# change, refused while the cache cannot be told of it (stamps).
_BODY = (400, 415, 503)
_DELETE = (503,)


class AutoSchema(SpectacularAutoSchema):
    def _get_response_bodies(self, direction: Any = "response") -> dict[str, Any]:
        responses = super()._get_response_bodies(direction)
        if direction != "response" or "default" in responses:
            return responses  # "default": any status, described there (the proxy's)
        statuses = list(_EVERY)
        if self.method in ("POST", "PUT", "PATCH"):
            statuses += _BODY
        elif self.method == "DELETE":
            statuses += _DELETE
        elif any(p.get("in") == "query" for p in self._get_parameters()):
            statuses.append(400)
        for status in sorted(statuses):
            if str(status) not in responses:
                response = error_responses(status)[status]
                responses[str(status)] = self._get_response_for_code(response, str(status))
        return responses
