"""Typed errors of outbound calls. Each carries the contract's code, an HTTP status for the API
and a sentence a tenant admin understands. None of them ever holds a secret or a URL's query."""

from __future__ import annotations

from apps.core.codes import ErrorCode
from apps.core.errors import ApplicationError


class OutboundError(ApplicationError):
    code = ErrorCode.UPSTREAM_ERROR
    status = 502
    message = "The upstream API call failed."


class DestinationBlocked(OutboundError):
    code = ErrorCode.DESTINATION_BLOCKED
    message = "This destination is not allowed."


class InvalidDestination(DestinationBlocked):
    """A URL that is not a plain https URL (userinfo, whitespace, another scheme...)."""


class InvalidRequestSettings(OutboundError):
    """The data source's settings (or a token obtained with them) make a request that cannot
    be sent, e.g. a header value with a line break."""

    code = ErrorCode.INVALID_REQUEST_SETTINGS
    message = "The request could not be built from the data source's settings."


class SecretsUnreadable(OutboundError):
    """The data source's stored secrets cannot be decrypted with the configured keys."""

    code = ErrorCode.SECRETS_UNREADABLE
    message = (
        "The data source's stored secrets cannot be decrypted with the configured keys; "
        "an admin must enter them again."
    )


class UpstreamTimeout(OutboundError):
    code = ErrorCode.UPSTREAM_TIMEOUT
    status = 504
    message = "The upstream API did not answer in time."


class UpstreamUnreachable(OutboundError):
    code = ErrorCode.UPSTREAM_UNREACHABLE
    message = "The upstream API could not be reached."


class UpstreamTLSError(UpstreamUnreachable):
    """The TLS handshake or certificate check failed (same contract code as unreachable)."""

    message = "The upstream API's TLS certificate could not be verified."


class UpstreamError(OutboundError):
    code = ErrorCode.UPSTREAM_ERROR
    message = "The upstream API answered with an error."

    def __init__(self, message: str | None = None, *, status_code: int, **kwargs) -> None:
        details = {"status_code": status_code, **kwargs.pop("details", {})}
        super().__init__(
            message or f"The upstream API answered with HTTP {status_code}.",
            details=details,
            **kwargs,
        )
        self.status_code = status_code


class RateLimited(OutboundError):
    code = ErrorCode.UPSTREAM_RATE_LIMITED
    status = 429
    message = "The upstream API is rate limiting requests."

    def __init__(self, message: str | None = None, *, retry_after: int | None = None) -> None:
        details = {"status_code": 429}
        headers = {}
        if retry_after is not None:
            details["retry_after"] = retry_after
            headers["Retry-After"] = str(retry_after)
        text = message or (
            f"The upstream API is rate limiting requests; retry in {retry_after} seconds."
            if retry_after is not None
            else None
        )
        super().__init__(text, details=details, headers=headers)
        self.retry_after = retry_after


class UpstreamBusy(OutboundError):
    """The owner of the call has as many calls in flight as it may (its concurrency cap)."""

    code = ErrorCode.UPSTREAM_BUSY
    status = 429
    message = "Too many calls to this tenant's APIs are in flight at once; try again in a moment."

    def __init__(self, message: str | None = None, *, limit: int | None = None) -> None:
        super().__init__(message, details={"limit": limit} if limit else {},
                         headers={"Retry-After": "1"})  # fmt: skip


class UnexpectedResponse(OutboundError):
    code = ErrorCode.UNEXPECTED_RESPONSE
    message = "The upstream API's answer was not what was expected."


class ResponseTooLarge(UnexpectedResponse):
    code = ErrorCode.RESPONSE_TOO_LARGE
    message = "The upstream API's answer is larger than allowed."


class TokenRefreshFailed(OutboundError):
    code = ErrorCode.TOKEN_REFRESH_FAILED
    message = "A new access token could not be obtained."
