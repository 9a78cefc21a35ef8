"""What a client writes: the fields it may set, and the read-only fields of the resource's own
representation, which a client that read the resource may send back unchanged."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from django.core.exceptions import ValidationError
from django.http import QueryDict

from apps.core.codes import ErrorCode
from apps.core.errors import ApplicationError


def writable_part(
    data: dict[str, Any], *, writable: Collection[str], read_only: Collection[str]
) -> dict[str, Any]:
    """``data`` without the representation's read-only fields; any other unknown field is
    refused, so a typo never passes silently."""
    unknown = sorted(set(data) - set(writable) - set(read_only))
    if unknown:
        raise ValidationError(
            {
                name: ValidationError(
                    f"{name!r} is not a field of this resource.", code=ErrorCode.UNKNOWN_FIELD
                )
                for name in unknown
            }
        )
    return {name: value for name, value in data.items() if name in writable}


class InvalidBody(ApplicationError):
    code = ErrorCode.INVALID_BODY
    status = 400
    message = "Send a JSON object."


def json_object(data: Any) -> dict[str, Any]:
    """A request body that must be a JSON object. A form-encoded or multipart body (which the
    API parses too) counts as an object of strings, each field's last value, as Django's forms
    read it: ``dict()`` of it would give lists, which no field expects."""
    if isinstance(data, QueryDict):
        return data.dict()
    if not isinstance(data, dict):
        raise InvalidBody()
    return dict(data)
