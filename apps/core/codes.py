"""Every error code the product answers with, in one place.

``error.code`` of an API error body, and the code of each field error in
``error.details.fields``. Codes are part of the public contract: add new ones, never rename.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    # --- the request as a whole -------------------------------------------------------------
    ERROR = "error"  # a framework error without a code of its own
    SERVER_ERROR = "server_error"
    DATABASE_UNAVAILABLE = "database_unavailable"
    VALIDATION_ERROR = "validation_error"  # several field errors; see details.fields
    INVALID_BODY = "invalid_body"
    PARSE_ERROR = "parse_error"
    NOT_ACCEPTABLE = "not_acceptable"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    THROTTLED = "throttled"
    BUSY = "busy"
    CACHE_UNAVAILABLE = "cache_unavailable"

    # --- who is calling -----------------------------------------------------------------------
    NOT_AUTHENTICATED = "not_authenticated"
    AUTHENTICATION_FAILED = "authentication_failed"
    PERMISSION_DENIED = "permission_denied"
    READ_ONLY_ROLE = "read_only_role"
    SCOPE_NOT_ALLOWED = "scope_not_allowed"
    ORIGIN_NOT_ALLOWED = "origin_not_allowed"
    TENANT_REQUIRED = "tenant_required"
    TENANT_NOT_FOUND = "tenant_not_found"
    NOT_FOUND = "not_found"

    # --- fields (details.fields.<name>[].code) -----------------------------------------------
    INVALID = "invalid"
    REQUIRED = "required"
    INVALID_CHOICE = "invalid_choice"
    UNIQUE = "unique"
    UNKNOWN_FIELD = "unknown_field"
    DOES_NOT_EXIST = "does_not_exist"
    INVALID_SLUG = "invalid_slug"
    INVALID_KEY = "invalid_key"
    HTTPS_REQUIRED = "https_required"
    FORBIDDEN_HEADER = "forbidden_header"
    INVALID_HEADER = "invalid_header"
    DUPLICATE_HEADER = "duplicate_header"
    TOO_MANY_HEADERS = "too_many_headers"
    SECRETS_REQUIRED = "secrets_required"

    # --- options ------------------------------------------------------------------------------
    MISSING_DEPENDENCY = "missing_dependency"
    INVALID_DEPENDENCY = "invalid_dependency"
    INVALID_FILTER = "invalid_filter"
    INVALID_LIMIT = "invalid_limit"

    # --- calls to upstreams -------------------------------------------------------------------
    UPSTREAM_ERROR = "upstream_error"
    UPSTREAM_TIMEOUT = "upstream_timeout"
    UPSTREAM_UNREACHABLE = "upstream_unreachable"
    UPSTREAM_RATE_LIMITED = "upstream_rate_limited"
    RATE_LIMITED = "rate_limited"
    UPSTREAM_BUSY = "upstream_busy"
    DESTINATION_BLOCKED = "destination_blocked"
    UNEXPECTED_RESPONSE = "unexpected_response"
    RESPONSE_TOO_LARGE = "response_too_large"
    REQUEST_TOO_LARGE = "request_too_large"
    INVALID_PATH = "invalid_path"
    INVALID_REQUEST_SETTINGS = "invalid_request_settings"
    SECRETS_UNREADABLE = "secrets_unreadable"
    TOKEN_REFRESH_FAILED = "token_refresh_failed"
    NOT_CONNECTED = "not_connected"
    OAUTH_FAILED = "oauth_failed"

    # --- events -------------------------------------------------------------------------------
    INVALID_SIGNATURE = "invalid_signature"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    LENGTH_REQUIRED = "length_required"
    DELIVERY_LOOP = "delivery_loop"
    DELIVERY_OFF = "delivery_off"
    DELIVERY_PENDING = "delivery_pending"
    POLLING_OFF = "polling_off"
    POLL_IN_PROGRESS = "poll_in_progress"

    # --- bulk jobs ----------------------------------------------------------------------------
    INVALID_FILE = "invalid_file"
    FILE_TOO_LARGE = "file_too_large"
    JOB_FINISHED = "job_finished"
    RESULT_NOT_READY = "result_not_ready"
    RESULT_EXPIRED = "result_expired"
