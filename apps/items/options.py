"""The options service: evaluate an item's request, answer from the cache when possible, else
fetch through the outbound client once (single flight), extract the options, and store them.

The hot path (a cache hit) costs one Redis round trip and no database query: the item comes from
the process's memory (see ``lookup``) and is checked against the tenant's stamp read together
with the cached answer.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from apps.core.errors import ApplicationError, NotFound
from apps.items import lookup, rsql
from apps.items.cache import backend
from apps.items.cache.backend import CachedAnswer
from apps.items.cache.flight import Failure, flight_for
from apps.items.models import ConnectedItem
from apps.items.templates import dependencies, render_body, render_option, render_path
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
from apps.outbound.redaction import Masker
from apps.outbound.service import datasource_request

logger = logging.getLogger("plugboard.options")

MAX_LIMIT = 1000
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
    cache: str  # hit | miss | stale
    stored: CachedAnswer
    # Whether the caller's key stamp was read and found unchanged (see options_fetch).
    key_verified: bool = False

    @classmethod
    def of(cls, cache: str, stored: CachedAnswer) -> OptionsAnswer:
        return cls(cache, stored)

    @property
    def fetched_at_iso(self) -> str:
        return self.stored.fetched_at_iso

    @property
    def options_json(self) -> bytes:
        return self.stored.options_json

    @property
    def options(self) -> list[dict[str, str]]:
        return self.stored.options

    @property
    def elements(self) -> list[Any]:
        return self.stored.elements


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


@dataclass
class Cached:
    """What one round trip says: the fresh answer (or None), whether the remembered item is
    still current, and whether the caller's key is (``key_check``)."""

    answer: OptionsAnswer | None
    item_current: bool
    key_current: bool


def cached_hit(
    ref: lookup.ItemRef, params: Any, key_check: tuple[str, str] | None = None
) -> Cached:
    """The fresh cached answer for a remembered item, read in one round trip together with the
    tenant's stamp (and the key's, when ``key_check`` is given)."""
    stamp = lookup.stamp_name(ref.tenant_id)
    wanted = (stamp, key_check[0]) if key_check and key_check[0] != stamp else (stamp,)
    fresh, current = backend.load(_name(ref, evaluate(ref, params)), wanted)
    if current[stamp] != ref.stamp:
        return Cached(None, False, False)
    key_current = key_check is not None and current[key_check[0]] == key_check[1]
    answer = OptionsAnswer.of("hit", fresh) if fresh is not None else None
    if answer is not None:
        answer.key_verified = key_current
    return Cached(answer, True, key_current)


class KeyCheckNeeded(Exception):
    """The caller's remembered key could not be confirmed in passing: check it before any
    upstream call is made on its behalf."""


def options_fetch(
    *, tenant_id: int, key: str, params: Any, key_check: tuple[str, str] | None = None
) -> OptionsAnswer:
    """The options of the tenant's item ``key`` for ``params``: cached (hit), fetched (miss)
    or, when the upstream fails, the last good answer (stale).

    ``key_check`` is an unconfirmed API key's (stamp, expected value): it is read in the same
    round trip as the answer, which says whether it matched (``key_verified``); a miss for an
    unconfirmed key raises KeyCheckNeeded instead of calling the upstream.
    """
    ref = lookup.remembered_ref(tenant_id, key)
    if ref is not None:
        cached = cached_hit(ref, params, key_check)
        if cached.answer is not None:
            return cached.answer
        if cached.item_current:
            if key_check is not None and not cached.key_current:
                raise KeyCheckNeeded()
            return miss(ref, evaluate(ref, params))
        lookup.forget(tenant_id, key)
    ref = lookup.load_ref(tenant_id, key)
    if ref is None:
        if key_check is not None:
            raise KeyCheckNeeded()  # the key may be gone too: say that first
        raise NotFound("No such item.")
    fresh, _ = backend.load(_name(ref, evaluate(ref, params)))
    if fresh is not None:
        return OptionsAnswer.of("hit", fresh)
    if key_check is not None:
        raise KeyCheckNeeded()
    return miss(ref, evaluate(ref, params))


def miss(ref: lookup.ItemRef, request: EvaluatedRequest) -> OptionsAnswer:
    """Fetch the answer once (single flight), or wait for the request already fetching it."""
    name = _name(ref, request)
    item = ref.item or ConnectedItem.objects.select_related("datasource").filter(pk=ref.id).first()
    if item is None:
        raise NotFound("No such item.")
    with flight_for(name, ttl_seconds=item.datasource.timeout_seconds * 3 + 10) as flight:
        joined = flight.join()
        if isinstance(joined, CachedAnswer):
            return OptionsAnswer.of("hit", joined)
        if isinstance(joined, Failure):
            stale = backend.load_stale(name) if joined.stale_ok else None
            if stale is not None:
                return OptionsAnswer.of("stale", stale)
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
                return OptionsAnswer.of("stale", stale)
            raise
        fetched_at = time.time()
        flight.land(item.datasource_id, options, elements, fetched_at)
        return OptionsAnswer("miss", CachedAnswer.fetched(fetched_at, options, elements))


def refine(
    answer: OptionsAnswer, *, q: str = "", filter_expr: str = "", limit: Any = None
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


def options_body(answer: OptionsAnswer, options: list[dict[str, str]] | None) -> bytes:
    """The contract's answer; the stored options are spliced in unparsed when unrefined."""
    options_json = (
        answer.options_json
        if options is None
        else json.dumps(options, ensure_ascii=False, separators=(",", ":")).encode()
    )
    tail = f',"cache":"{answer.cache}","fetched_at":"{answer.fetched_at_iso}"}}'
    return b'{"options":' + options_json + tail.encode()
