"""The options service: evaluate an item's request, answer from the cache when possible, else
fetch through the outbound client once (single flight), extract the options, and store them.

``options_serve`` is the one way in, whoever asks (an API key or a session). Its hot path, a hit
for a remembered item, costs one Redis round trip and no database query: the item comes from the
process's memory (see ``lookup``) and is confirmed by the tenant's stamp, read together with the
cached answer — as is the caller's remembered key, when the caller hands one in.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from apps.core import metrics, stamps
from apps.core.codes import ErrorCode
from apps.core.errors import ApplicationError, NotFound
from apps.core.memo import Remembered, Unconfirmed
from apps.core.ratelimit import Counting
from apps.datasources.connections import datasource_request
from apps.items import lookup, rsql
from apps.items.cache import backend
from apps.items.cache.backend import CachedAnswer
from apps.items.cache.flight import Failure, flight_for
from apps.items.models import ConnectedItem
from apps.items.rendering import dependencies, render_body, render_option, render_path
from apps.outbound.client import OPTIONS_MAX_BYTES, OutboundResponse
from apps.outbound.errors import (
    OutboundError,
    RateLimited,
    TokenRefreshFailed,
    UnexpectedResponse,
    UpstreamBusy,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnreachable,
)
from apps.outbound.paths import get_path
from apps.outbound.redaction import Masker
from apps.tenants import limits

logger = logging.getLogger("plugboard.options")

MAX_LIMIT = 1000
# Failures after which a last-good answer is better than an error. A 4xx (other than 429)
# says the request itself is wrong, so it is not papered over.
_STALE_OK = (
    UpstreamBusy,
    UpstreamTimeout,
    UpstreamUnreachable,
    RateLimited,
    TokenRefreshFailed,
    UnexpectedResponse,
)


class MissingDependency(ApplicationError):
    code = ErrorCode.MISSING_DEPENDENCY
    status = 400


class InvalidLimit(ApplicationError):
    code = ErrorCode.INVALID_LIMIT
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


@dataclass(slots=True)
class OptionsAnswer:
    """What the endpoint answers; ``body`` is the contract's JSON."""

    cache: str  # hit | miss | stale
    fetched_at_iso: str
    options_json: bytes

    @property
    def body(self) -> bytes:
        tail = f',"cache":"{self.cache}","fetched_at":"{self.fetched_at_iso}"}}'
        return b'{"options":' + self.options_json + tail.encode()


def options_serve(
    *,
    tenant_id: int,
    item_key: str,
    params: Mapping[str, Any],
    caller: Remembered[Any] | None = None,
    key_id: int | None = None,
) -> OptionsAnswer:
    """The options of the tenant's item ``item_key`` for ``params``: cached (hit), fetched (miss)
    or, when the upstream fails, the last good answer (stale); refined by q, filter and limit.

    ``caller`` is the caller's remembered credential, unconfirmed: its stamp is read in the first
    round trip, and Unconfirmed is raised when it does not hold, before anything is said about
    the item or fetched on the caller's behalf. The call is counted against the rate limits of
    the tenant and of the API key ``key_id`` in the round trip that reads the answer.
    """
    counting = Counting(limits.quotas("options", tenant_id, key=key_id))
    stamp = stamps.tenant_stamp(tenant_id)
    # An API key's stamp is its tenant's too: then one name is read for both.
    names = (stamp,) if caller is None or caller.stamp == stamp else (stamp, caller.stamp)
    remembered = lookup.item_recall(tenant_id=tenant_id, key=item_key)
    if remembered is not None:
        found = _from_memory(remembered, params, names, caller, counting)
        if found is not None:
            return _refined(*found, params)
        lookup.item_forget(tenant_id=tenant_id, key=item_key)
    # The stamps are read before the item: a change in between makes the remembered item look
    # older than it is, never newer.
    current = stamps.current_all(names)
    if caller is not None and not caller.confirm(current):
        raise Unconfirmed()
    ref = lookup.item_load(tenant_id=tenant_id, key=item_key, stamp_value=current[stamp])
    if ref is None:
        raise NotFound("No such item.")
    request = evaluate(ref, params)
    fresh, purge_stamp, _ = backend.load(_name(ref, request), ref.datasource_id, counting=counting)
    counting.check()
    found = ("hit", fresh) if fresh is not None else miss(ref, request, purge_stamp)
    return _refined(*found, params)


def _from_memory(
    remembered: Remembered[lookup.ItemRef],
    params: Mapping[str, Any],
    names: tuple[str, ...],
    caller: Remembered[Any] | None,
    counting: Counting,
) -> tuple[str, CachedAnswer] | None:
    """The answer for a remembered item while its stamp holds; None: read the item again."""
    ref = remembered.value
    try:
        request = evaluate(ref, params)
    except MissingDependency:
        current = stamps.current_all(names)
        if caller is not None and not caller.confirm(current):
            raise Unconfirmed() from None
        if remembered.confirm(current):
            raise
        return None  # the item changed: its dependencies may have too
    fresh, purge_stamp, current = backend.load(
        _name(ref, request), ref.datasource_id, names, counting=counting
    )
    if caller is not None and not caller.confirm(current):
        raise Unconfirmed()
    if not remembered.confirm(current):
        return None
    counting.check()
    return ("hit", fresh) if fresh is not None else miss(ref, request, purge_stamp)


def _refined(cache: str, stored: CachedAnswer, params: Mapping[str, Any]) -> OptionsAnswer:
    metrics.options_answered(cache)
    options = refine(
        stored, q=params.get("q", ""), filter_expr=params.get("filter", ""),
        limit=params.get("limit"),
    )  # fmt: skip
    options_json = (
        stored.options_json
        if options is None
        else json.dumps(options, ensure_ascii=False, separators=(",", ":")).encode()
    )
    return OptionsAnswer(cache, stored.fetched_at_iso, options_json)


def evaluate(item: ConnectedItem | lookup.ItemRef, params: Any) -> EvaluatedRequest:
    """Fill the item's templates from the request's parameters."""
    names = (
        item.dependencies
        if isinstance(item, lookup.ItemRef)
        else dependencies(item.path, item.body)
    )
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
    masker = Masker(response.sensitive)
    if masker and masker.found_in(response.text):
        # The upstream echoed a credential (raw or encoded): mask it in what is cached too,
        # not only in what is shown.
        elements = masker.document(elements)
    else:
        masker = None
    options = [
        {"value": render_option(item.value, element), "label": render_option(item.label, element)}
        for element in elements
    ]
    if masker is not None:
        options = masker.document(options)
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


def _name(ref: lookup.ItemRef, request: EvaluatedRequest) -> str:
    return backend.entry_name(
        tenant_id=ref.tenant_id,
        datasource_id=ref.datasource_id,
        datasource_version=ref.datasource_version,
        item_id=ref.id,
        item_version=ref.item_version,
        digest=request.digest,
    )


def miss(
    ref: lookup.ItemRef, request: EvaluatedRequest, purge_stamp: str | None = None
) -> tuple[str, CachedAnswer]:
    """Fetch the answer once (single flight), or wait for the request already fetching it;
    returns how it was answered and the answer. ``purge_stamp`` is the data source's, read
    before the fetch: the answer is written under it, so a purge meanwhile makes it a miss."""
    name = _name(ref, request)
    item = ref.item
    timeout = item.datasource.timeout_seconds
    # The leader may take a token refresh, the call and its one retry; a waiter only its own
    # timeout.
    with flight_for(name, ttl_seconds=timeout * 3 + 10, wait_seconds=timeout,
                    purge_stamp=purge_stamp) as flight:  # fmt: skip
        joined = flight.join()
        if isinstance(joined, CachedAnswer):
            return "hit", joined
        if isinstance(joined, Failure):
            stale = backend.load_stale(name) if joined.stale_ok else None
            if stale is not None:
                return "stale", stale
            raise joined.error()
        try:
            response = fetch_upstream(item, request)
            response.raise_for_status()
            options, elements = extract(item, response)
        except OutboundError as exc:
            stale_ok = isinstance(exc, _STALE_OK) or (
                isinstance(exc, UpstreamError) and exc.status_code >= 500
            )
            flight.fail(Failure.of(exc, stale_ok=stale_ok))
            stale = backend.load_stale(name) if stale_ok else None
            if stale is not None:
                logger.info("serving a stale answer for item %s: %s", item.pk, exc.code)
                return "stale", stale
            raise
        fetched_at = time.time()
        flight.land(item.datasource_id, options, elements, fetched_at, tenant_id=item.tenant_id,
                    cache_limit=limits.tenant_scalar("cache_bytes", item.tenant_id))  # fmt: skip
        return "miss", CachedAnswer.fetched(fetched_at, options, elements)


def refine(
    answer: CachedAnswer, *, q: str = "", filter_expr: str = "", limit: Any = None
) -> list[dict[str, str]] | None:
    """Apply filter (RSQL over elements), q (substring of the label) and limit, in that order.
    None when there is nothing to apply (the stored options are served as they are)."""
    if not (q or filter_expr or limit not in (None, "")):
        return None
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
