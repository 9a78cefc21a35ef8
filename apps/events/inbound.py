"""Inbound webhooks: finding the data source an inbound URL names, checking the sender's
signature, and recording what it sent."""

from __future__ import annotations

import hashlib
import hmac
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace

from standardwebhooks.webhooks import Webhook

from apps.core import ratelimit, redis, stamps
from apps.core.codes import ErrorCode
from apps.core.errors import ApplicationError
from apps.core.memo import Remembered, StampedMemo
from apps.core.stamps import StampUnavailable
from apps.datasources.event_settings import EventSettings, events_of
from apps.datasources.models import DataSource, inbound_token_digest
from apps.datasources.services import datasource_cache_invalidate
from apps.events.models import Event, Source
from apps.events.recording import Recorded, event_record
from apps.outbound.errors import SecretsUnreadable
from apps.tenants import limits

logger = logging.getLogger("plugboard.events")

MAX_BODY = 1024 * 1024
_TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


class InvalidSignature(ApplicationError):
    code = ErrorCode.INVALID_SIGNATURE
    status = 401
    message = "The request's signature is missing or does not match; nothing was recorded."


class PayloadTooLarge(ApplicationError):
    code = ErrorCode.PAYLOAD_TOO_LARGE
    status = 413
    message = f"An event body may hold at most {MAX_BODY:,} bytes; nothing was recorded."


class NotText(ApplicationError):
    code = ErrorCode.UNSUPPORTED_MEDIA_TYPE
    status = 415
    message = (
        "An event body must be UTF-8 text (JSON, XML, form data...): deliveries are signed "
        "as text. Nothing was recorded."
    )


class SecretsUnreadableNow(ApplicationError):
    code = ErrorCode.SECRETS_UNREADABLE
    status = 503
    message = (
        "The data source's inbound secret cannot be decrypted with the configured keys, so "
        "the signature cannot be checked; nothing was recorded. Send it again once an admin "
        "has entered the secret again."
    )


class DeliveryLoop(ApplicationError):
    code = ErrorCode.DELIVERY_LOOP
    status = 508
    message = (
        "This request is a delivery of one of Plugboard's own events: a callback URL points "
        "at an inbound URL, which would loop. Nothing was recorded."
    )


@dataclass(frozen=True)
class Receiver:
    """What an inbound URL leads to: its data source and that data source's events settings
    (None when its secrets cannot be decrypted). ``remembered``: read from this process's
    memory, not yet confirmed to hold."""

    datasource: DataSource
    settings: EventSettings | None
    remembered: Remembered[Receiver] | None = None

    def confirm(self) -> bool:
        """Whether the receiver still holds (one round trip for a remembered one)."""
        return self.remembered is None or self.remembered.confirm(
            {self.remembered.stamp: stamps.read(self.remembered.stamp)}
        )


# Receivers found by their inbound token's digest, remembered under their tenant's stamp (any
# change to a data source of the tenant, a new inbound URL or events setting included, moves it).
INBOUND: StampedMemo[str, Receiver] = StampedMemo(size=1024, max_age=300)


def _read(digest: str) -> DataSource | None:
    return (
        DataSource.objects.filter(inbound_token_digest=digest)
        .only("id", "tenant_id", "name", "events_config", "event_secrets")
        .first()
    )


def _receiver(datasource: DataSource) -> Receiver:
    try:
        return Receiver(datasource, events_of(datasource))
    except SecretsUnreadable:
        return Receiver(datasource, None)


def receiver_for_token(token: str, *, fresh: bool = False) -> Receiver | None:
    """The receiver of the inbound URL carrying ``token``, found by the token's digest (the
    lookup compares no secret). Unless ``fresh``, one remembered by this process is handed back
    unconfirmed: recording confirms it in the round trip that purges the cache."""
    if not 20 <= len(token) <= 100 or not set(token) <= _TOKEN_CHARS:
        return None
    digest = inbound_token_digest(token)
    if not fresh:
        remembered = INBOUND.recall(digest)
        if remembered is not None:
            return replace(remembered.value, remembered=remembered)
    datasource = _read(digest)
    if datasource is None or redis.client() is None:
        return _receiver(datasource) if datasource is not None else None
    # Its tenant's stamp, then the row once more: a change in between makes what is
    # remembered look older than it is, never newer.
    tenant_id = datasource.tenant_id
    stamp = stamps.tenant_stamp(tenant_id)
    value = stamps.current(stamp)
    datasource = _read(digest)
    if datasource is None or datasource.tenant_id != tenant_id:
        return None if datasource is None else _receiver(datasource)
    receiver = _receiver(datasource)
    if receiver.settings is not None:
        INBOUND.remember(digest, receiver, stamp=stamp, stamp_value=value)
    return receiver


def datasource_for_token(token: str) -> DataSource | None:
    """The data source whose inbound URL carries ``token`` (read afresh)."""
    receiver = receiver_for_token(token, fresh=True)
    return receiver.datasource if receiver is not None else None


def signature_valid(settings: EventSettings, headers: Mapping[str, str], body: bytes) -> bool:
    """Whether the request is signed as ``settings`` require (always, without an inbound
    secret). Comparisons take constant time."""
    secret = settings.inbound_secret
    if not secret:
        return True
    if settings.inbound_signature_scheme == "standard_webhooks":
        try:
            Webhook(secret).verify(body, dict(headers), json_parse=False)
        except Exception:  # missing headers, stale timestamp, malformed or wrong signature
            return False
        return True
    given = (headers.get(settings.inbound_signature_header) or "").strip()
    if given[:7].lower() == "sha256=":
        given = given[7:]
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), given.lower().encode("utf-8", "replace"))


# Headers senders use to name one delivery, sent again unchanged when they retry it.
DELIVERY_ID_HEADERS = (
    "webhook-id",  # Standard Webhooks, Svix
    "X-GitHub-Delivery",
    "X-Atlassian-Webhook-Identifier",  # Jira, Confluence
    "X-Shopify-Webhook-Id",
)


def delivery_id(headers: Mapping[str, str]) -> str | None:
    """The sender's id of this delivery (its retries carry the same), as a dedup key."""
    for name in DELIVERY_ID_HEADERS:
        value = (headers.get(name) or "").strip()
        if value:
            return f"{name.lower()}:{value}"[:200]
    return None


def _is_own_delivery(webhook_id: str) -> bool:
    try:
        event_id = uuid.UUID(webhook_id)
    except ValueError:
        return False
    return Event.objects.filter(pk=event_id).exists()


class Stale(Exception):
    """A remembered receiver no longer holds: read it afresh."""


def _purge_cache(receiver: Receiver) -> None:
    """Count the event against the rate limits of its inbound URL and tenant, and purge the
    data source's cached options (whoever receives the event and asks for options gets fresh
    ones). A remembered receiver is confirmed in the same round trip (``Stale`` when it does
    not hold); a cache that cannot be reached loses no event: it is logged."""
    datasource, remembered = receiver.datasource, receiver.remembered
    counting = ratelimit.Counting(
        limits.quotas("inbound", datasource.tenant_id, source=datasource.pk)
    )
    client = redis.client()
    if remembered is None or client is None:
        ratelimit.count(counting.quotas)
        try:
            datasource_cache_invalidate(
                datasource_id=datasource.pk, tenant_id=datasource.tenant_id, free=False
            )
        except StampUnavailable:
            logger.warning("inbound event of %s: the cache could not be purged", datasource.pk)
        return
    pipe = redis.Batch(client)
    pipe.get(redis.key(remembered.stamp))
    counting.queue(pipe)
    counted = len(counting)
    datasource_cache_invalidate(
        datasource_id=datasource.pk, tenant_id=datasource.tenant_id, free=False, pipeline=pipe
    )
    try:
        results = pipe.execute()
    except Exception:
        raise Stale() from None  # read afresh, and purged (or the failure logged) that way
    value = results[0]
    if not remembered.confirm({remembered.stamp: value.decode() if value is not None else None}):
        raise Stale()
    counting.read(results[1 : 1 + counted])
    counting.check()  # (after the confirmation: a refusal from memory is final)


def inbound_record(
    receiver: Receiver,
    *,
    headers: Mapping[str, str],
    body: bytes,
    content_type: str,
) -> Recorded:
    """Check and record one inbound request (already within the size limit). Raises ``Stale``
    for a remembered receiver that no longer holds, before anything is recorded."""
    settings = receiver.settings
    if settings is None:
        # The signature cannot be checked: the sender should try again once an admin has
        # entered the secrets again.
        raise SecretsUnreadableNow()
    if not signature_valid(settings, headers, body):
        raise InvalidSignature()
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        raise NotText() from None
    webhook_id = (headers.get("webhook-id") or "").strip()
    if webhook_id and _is_own_delivery(webhook_id):
        raise DeliveryLoop()
    _purge_cache(receiver)  # first: see above
    return event_record(
        datasource=receiver.datasource,
        source=Source.WEBHOOK,
        body=body,
        content_type=content_type,
        dedup_key=delivery_id(headers),
        due=settings.delivers,
    )
