"""The "Test connection" check: one real request, reported step by step (DNS, connect, TLS,
auth, request, check) with timings, so a failure says where it happened."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit

from apps.datasources.connections import datasource_request
from apps.datasources.models import DataSource
from apps.outbound.client import OPTIONS_MAX_BYTES, OutboundResponse
from apps.outbound.errors import (
    DestinationBlocked,
    OutboundError,
    SecretsUnreadable,
    TokenRefreshFailed,
    UpstreamTimeout,
    UpstreamTLSError,
    UpstreamUnreachable,
)
from apps.outbound.paths import get_path
from apps.outbound.redaction import mask_secrets
from apps.outbound.service import NotConnected
from apps.outbound.transport import Trace

STEPS = ("dns", "connect", "tls", "auth", "request", "check")
# The detail of a step the test never got to (the pages show it as skipped, not failed).
NOT_REACHED = "Not reached."
_AUTH_FAILURES = (TokenRefreshFailed, NotConnected, SecretsUnreadable)


@dataclass
class Step:
    name: str
    ok: bool
    detail: str


def _ms(value: float | None) -> str:
    return f"{value:.0f} ms" if value is not None and value >= 1 else f"{(value or 0):.1f} ms"


def json_text(value: Any) -> str:
    """How a JSON value compares with success_values: true, 42, text."""
    if isinstance(value, str):
        return value
    return json.dumps(value)


def _check(datasource: DataSource, response: OutboundResponse) -> Step:
    ping = datasource.ping or {}
    success_path = ping.get("success_path") or ""
    if not response.ok:
        return Step("check", False, f"Expected a 2xx status, got {response.status_code}.")
    if not success_path:
        return Step("check", True, f"Status {response.status_code} is a success.")
    try:
        document = response.json()
    except OutboundError:
        return Step("check", False, "The answer is not JSON, so success_path cannot be read.")
    found = get_path(document, success_path)
    if found is None:
        return Step("check", False, f"The answer has no value at {success_path!r}.")
    expected = [str(v) for v in ping.get("success_values") or []]
    text = json_text(found)
    shown = mask_secrets(text, response.sensitive)  # an upstream may echo a credential
    shown = shown if len(shown) <= 80 else shown[:77] + "…"
    if not expected or text in expected:
        return Step("check", True, f"{success_path} = {shown}")
    return Step(
        "check", False, f"{success_path} = {shown}; expected one of: {', '.join(expected)}."
    )


def _connection_steps(datasource: DataSource, trace: Trace) -> dict[str, Step]:
    """DNS, connect and TLS, as far as the trace got."""
    hostname = urlsplit(datasource.base_url).hostname or ""
    steps: dict[str, Step] = {}
    if trace.addresses:
        shown = ", ".join(trace.addresses)
        steps["dns"] = Step("dns", True, f"{hostname} → {shown} ({_ms(trace.dns_ms)})")
    if trace.connect_ms is not None:
        steps["connect"] = Step("connect", True, f"{trace.connected_to} ({_ms(trace.connect_ms)})")
    if trace.tls_ms is not None:
        steps["tls"] = Step(
            "tls", True,
            f"{trace.tls_version}, certificate valid for {hostname} ({_ms(trace.tls_ms)})",
        )  # fmt: skip
    return steps


def _failure_step(datasource: DataSource, failure: OutboundError, steps: dict[str, Step]) -> None:
    """Put the failure on the step where it happened."""
    if isinstance(failure, _AUTH_FAILURES):
        steps["auth"] = Step("auth", False, failure.message)
    elif isinstance(failure, DestinationBlocked):
        steps["dns"] = Step("dns", False, failure.message)
    elif isinstance(failure, UpstreamTLSError):
        steps["tls"] = Step("tls", False, failure.message)
    else:
        missing = next((n for n in ("dns", "connect", "tls") if n not in steps), None)
        if missing and isinstance(failure, UpstreamUnreachable | UpstreamTimeout):
            steps[missing] = Step(missing, False, failure.message)
        else:
            steps.setdefault("auth", Step("auth", True, datasource.get_auth_mode_display()))
            steps["request"] = Step("request", False, failure.message)


def _response_steps(
    datasource: DataSource, response: OutboundResponse, trace: Trace, method: str, path: str
) -> dict[str, Step]:
    if response.status_code in (401, 403):
        auth = Step(
            "auth", False, f"The upstream refused the credentials (HTTP {response.status_code})."
        )
    else:
        auth = Step("auth", True, f"{datasource.get_auth_mode_display()} ({_ms(trace.auth_ms)})")
    request = Step(
        "request",
        response.status_code < 400,
        f"{method} {path or '/'} → {response.status_code} ({_ms(trace.request_ms)})",
    )
    return {"auth": auth, "request": request, "check": _check(datasource, response)}


def connection_test(datasource: DataSource, *, ephemeral_tokens: bool = False) -> dict[str, Any]:
    """Run the test against ``datasource`` (saved or not); returns the contract's result.
    ``ephemeral_tokens`` is for unsaved auth settings: no stored token is read or written."""
    started = time.perf_counter()
    ping = datasource.ping or {}
    path = ping.get("path") or datasource.health_check_path or ""
    method = ping.get("method") or "GET"
    trace = Trace()
    response: OutboundResponse | None = None
    failure: OutboundError | None = None
    if not datasource.base_url:
        failure = DestinationBlocked("No base URL is configured yet.")
    else:
        try:
            response = datasource_request(
                datasource, method=method, path=path, max_bytes=OPTIONS_MAX_BYTES, trace=trace,
                fresh_connection=True,  # a test exercises DNS, connect and TLS for real
                ephemeral_tokens=ephemeral_tokens,
            )  # fmt: skip
        except OutboundError as exc:
            failure = exc

    steps = _connection_steps(datasource, trace)
    if failure is not None:
        _failure_step(datasource, failure, steps)
    if response is not None:
        steps.update(_response_steps(datasource, response, trace, method, path))
    ordered = [steps.get(name) or Step(name, False, NOT_REACHED) for name in STEPS]
    ok = all(step.ok for step in ordered)
    if ok:
        message = "Connection OK."
    elif failure is not None:
        message = failure.message
    else:
        message = next(s.detail for s in ordered if not s.ok)
    return {
        "ok": ok,
        "status_code": response.status_code if response is not None else None,
        "message": message,
        "elapsed_ms": round((time.perf_counter() - started) * 1000, 1),
        "steps": [asdict(step) for step in ordered],
    }
