"""Periodic work on data sources (scheduled in config/schedule.py). Messages carry ids only."""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from apps.core.locks import LockTimeout
from apps.datasources.connections import (
    TokenStateStore,
    connection_of,
    readable_token_state,
    stored_token,
)
from apps.datasources.models import DataSource, TokenState
from apps.datasources.oauth import oauth_grants_purge
from apps.datasources.services import datasource_drafts_purge
from apps.outbound.auth import get_mode
from apps.outbound.errors import OutboundError
from apps.outbound.tokens import REFRESH_AHEAD, due_for_scheduled_refresh, token_refresh

logger = logging.getLogger("plugboard.tokens")

# After a failed scheduled refresh, wait this long before the schedule tries again.
RETRY_AFTER_FAILURE = timedelta(minutes=5)


def tokens_due_for_refresh() -> list[str]:
    """Ids of data sources whose token the schedule should renew now."""
    now = timezone.now()
    due = (
        TokenState.objects.filter(expires_at__isnull=False, expires_at__lte=now + REFRESH_AHEAD)
        .exclude(last_refresh_error__gt="", last_refresh_attempt_at__gt=now - RETRY_AFTER_FAILURE)
        .select_related("datasource")
    )
    ids = []
    for state in due:
        stored = stored_token(readable_token_state(state))
        if stored is None or not due_for_scheduled_refresh(stored):
            continue
        mode = get_mode(state.datasource.auth_mode)
        try:
            connection = connection_of(state.datasource)
        except OutboundError:
            continue  # its secrets cannot be read: nothing to refresh with
        if mode.token_bearing and mode.can_refresh(connection, stored):
            ids.append(str(state.datasource_id))
    return ids


@shared_task(ignore_result=True)
def refresh_expiring_tokens() -> int:
    """Fan out one refresh task per data source whose token expires soon."""
    ids = tokens_due_for_refresh()
    for datasource_id in ids:
        refresh_datasource_token.delay(datasource_id)
    return len(ids)


@shared_task(ignore_result=True)
def refresh_datasource_token(datasource_id: str) -> None:
    """Refresh one data source's token ahead of expiry."""
    datasource = DataSource.objects.filter(pk=datasource_id).first()
    if datasource is None:
        return
    try:
        token_refresh(
            connection_of(datasource),
            TokenStateStore(datasource.pk),
            stale=None,
            ahead=REFRESH_AHEAD,
        )
    except OutboundError as exc:
        # Recorded on the data source (needs_attention); the schedule retries later.
        logger.warning("scheduled token refresh of %s failed: %s", datasource_id, exc.code)
    except LockTimeout:
        # Another refresh of it is running, or a killed worker's lock has not lapsed yet: the
        # token is still due, so the schedule sends this again next time.
        logger.info("scheduled token refresh of %s skipped: another refresh holds its lock",
                    datasource_id)  # fmt: skip


@shared_task(ignore_result=True)
def purge_oauth_grants() -> int:
    """Delete authorization-code grants past their 10-minute lifetime."""
    return oauth_grants_purge()


@shared_task(ignore_result=True)
def purge_abandoned_drafts() -> int:
    """Delete drafts (created by the wizard, never configured) older than 24 hours that
    nothing uses."""
    return datasource_drafts_purge()
