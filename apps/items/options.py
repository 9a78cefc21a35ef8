"""The options service: evaluate an item's request, answer from the cache when possible, else
fetch through the outbound client once (single flight), extract the options, and store them."""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from apps.core.errors import ApplicationError
from apps.items import cache as options_cache
from apps.items import rsql
from apps.items.models import ConnectedItem
from apps.items.templates import (
    dependencies,
    render_body,
    render_option,
    render_path,
)
from apps.outbound.client import OPTIONS_MAX_BYTES, OutboundResponse
from apps.outbound.errors import (
    OutboundError,
    RateLimited,
    TokenRefreshFailed,
    UnexpectedResponse,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnreachable,
)
from apps.outbound.paths import get_path
from apps.outbound.service import datasource_request

logger = logging.getLogger("plugboard.options")

MAX_LIMIT = 1000
_WAIT_STEP = 0.02
# Failures after which a last-good answer is better than an error. A 4xx (other than 429)
# says the request itself is wrong, so it is not papered over.
_STALE_OK = (
    UpstreamTimeout,
    UpstreamUnreachable,
    RateLimited,
    TokenRefreshFailed,
    UnexpectedResponse,
)


class MissingDependency(ApplicationError):
    code = "missing_dependency"
    status = 400


class InvalidLimit(ApplicationError):
    code = "invalid_limit"
    status = 400
    message = f"limit must be a whole number from 1 to {MAX_LIMIT}."


@dataclass
class EvaluatedRequest:
    method: str
    path: str
    body: bytes | None

    @property
    def digest(self) -> str:
        raw = b"\0".join([self.method.encode(), self.path.encode(), self.body or b""])
        return hashlib.sha256(raw).hexdigest()[:32]


@dataclass
class OptionsAnswer:
    options: list[dict[str, str]]
    elements: list[Any]
    cache: str  # hit | miss | stale
    fetched_at: float

    @property
    def fetched_at_iso(self) -> str:
        return datetime.fromtimestamp(self.fetched_at, tz=UTC).isoformat().replace("+00:00", "Z")


def evaluate(item: ConnectedItem, params: Any) -> EvaluatedRequest:
    """Fill the item's templates from the request's parameters."""
    names = dependencies(item.path, item.body)
    missing = [name for name in names if not params.get(name)]
    if missing:
        raise MissingDependency(
            f"Give a value for {', '.join(missing)}: this item depends on "
            f"{'it' if len(missing) == 1 else 'them'}.",
            details={"missing": missing},
        )
    values = {name: params.get(name) for name in names}
    return EvaluatedRequest(
        method=item.method,
        path=render_path(item.path, values),
        body=render_body(item.body, values) if item.method == "POST" else None,
    )


def mask_secrets(text: str, sensitive: set[str]) -> str:
    """``text`` with every credential value sent with the request replaced."""
    for secret in sensitive:
        if secret and len(secret) >= 4 and secret in text:
            text = text.replace(secret, "[secret]")
    return text


def extract(
    item: ConnectedItem, response: OutboundResponse
) -> tuple[list[dict[str, str]], list[Any]]:
    """(options, elements) from a 2xx answer; UnexpectedResponse when it is not the expected
    shape. Anything that matches a credential is masked."""
    document = response.json()
    elements = get_path(document, item.results_path) if item.results_path else document
    if not isinstance(elements, list):
        where = f"at {item.results_path!r}" if item.results_path else "at the top level"
        raise UnexpectedResponse(
            f"The answer has no list {where}; check the item's results path.",
            details={"results_path": item.results_path},
        )
    sensitive = response.sensitive
    options = [
        {
            "value": mask_secrets(render_option(item.value, element), sensitive),
            "label": mask_secrets(render_option(item.label, element), sensitive),
        }
        for element in elements
    ]
    return options, elements


def fetch_upstream(item: ConnectedItem, request: EvaluatedRequest) -> OutboundResponse:
    headers = {"Accept": "application/json"}
    if request.body is not None:
        headers["Content-Type"] = "application/json"
    return datasource_request(
        item.datasource,
        method=request.method,
        path=request.path,
        headers=headers,
        body=request.body,
        max_bytes=OPTIONS_MAX_BYTES,
    )


def _error_from(marker: dict[str, Any]) -> ApplicationError:
    return ApplicationError(
        marker["message"],
        code=marker["code"],
        status=marker["status"],
        details=marker.get("details") or {},
        headers=marker.get("headers") or {},
    )


def options_fetch(*, item: ConnectedItem, params: Any) -> OptionsAnswer:
    """The options of ``item`` for ``params``: cached (hit), fetched (miss) or, when the
    upstream fails, the last good answer (stale)."""
    request = evaluate(item, params)
    name = options_cache.entry_name(
        tenant_id=item.tenant_id, datasource=item.datasource, item=item, digest=request.digest
    )
    fresh, stale = options_cache.load(name)
    if fresh is not None:
        return OptionsAnswer(fresh.payload["o"], fresh.payload["e"], "hit", fresh.fetched_at)

    flight = options_cache.Flight(name, ttl_seconds=item.datasource.timeout_seconds * 3 + 10)
    deadline = time.monotonic() + item.datasource.timeout_seconds * 3 + 10
    while not flight.try_lead():
        # Another request is fetching this very answer: wait for it instead of calling too.
        time.sleep(_WAIT_STEP)
        fresh, stale = options_cache.load(name)
        if fresh is not None:
            return OptionsAnswer(fresh.payload["o"], fresh.payload["e"], "hit", fresh.fetched_at)
        if not flight.in_progress():
            marker = flight.failure()
            if marker is not None:
                if stale is not None and marker.get("stale_ok"):
                    return OptionsAnswer(
                        stale.payload["o"], stale.payload["e"], "stale", stale.fetched_at
                    )
                raise _error_from(marker)
        if time.monotonic() > deadline:
            break
    try:
        fresh, stale = options_cache.load(name)  # it may have landed while we acquired
        if fresh is not None:
            return OptionsAnswer(fresh.payload["o"], fresh.payload["e"], "hit", fresh.fetched_at)
        try:
            response = fetch_upstream(item, request)
            response.raise_for_status()
            options, elements = extract(item, response)
        except OutboundError as exc:
            stale_ok = isinstance(exc, _STALE_OK) or (
                isinstance(exc, UpstreamError) and exc.status_code >= 500
            )
            flight.fail(
                {"code": exc.code, "status": exc.status, "message": exc.message,
                 "details": exc.details, "headers": exc.headers, "stale_ok": stale_ok}
            )  # fmt: skip
            if stale is not None and stale_ok:
                logger.info("serving a stale answer for item %s: %s", item.pk, exc.code)
                return OptionsAnswer(
                    stale.payload["o"], stale.payload["e"], "stale", stale.fetched_at
                )
            raise
        fetched_at = time.time()
        options_cache.store(name, item.datasource_id, {"o": options, "e": elements}, fetched_at)
        return OptionsAnswer(options, elements, "miss", fetched_at)
    finally:
        flight.land()


def refine(
    answer: OptionsAnswer, *, q: str = "", filter_expr: str = "", limit: Any = None
) -> list[dict[str, str]]:
    """Apply filter (RSQL over elements), q (substring of the label) and limit, in that order."""
    options = answer.options
    if filter_expr:
        predicate = rsql.parse(filter_expr)
        options = [o for o, e in zip(options, answer.elements, strict=True) if predicate(e)]
    if q:
        needle = q.casefold()
        options = [o for o in options if needle in o["label"].casefold()]
    if limit not in (None, ""):
        try:
            count = int(limit)
        except (TypeError, ValueError):
            raise InvalidLimit() from None
        if not 1 <= count <= MAX_LIMIT:
            raise InvalidLimit()
        options = options[:count]
    return options
