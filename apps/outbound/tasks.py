from __future__ import annotations

import logging

from celery import shared_task

from apps.outbound.errors import OutboundError
from apps.outbound.oauth import oauth_grants_purge
from apps.outbound.tokens import REFRESH_AHEAD, token_refresh, tokens_due_for_refresh

logger = logging.getLogger("plugboard.tokens")


@shared_task(ignore_result=True)
def refresh_expiring_tokens() -> int:
    """Fan out one refresh task per data source whose token expires soon."""
    ids = tokens_due_for_refresh()
    for datasource_id in ids:
        refresh_datasource_token.delay(datasource_id)
    return len(ids)


@shared_task(ignore_result=True)
def refresh_datasource_token(datasource_id: str) -> None:
    """Refresh one data source's token ahead of expiry (messages carry ids, never secrets)."""
    from apps.datasources.models import DataSource

    datasource = DataSource.objects.filter(pk=datasource_id).first()
    if datasource is None:
        return
    try:
        token_refresh(datasource, stale=None, ahead=REFRESH_AHEAD)
    except OutboundError as exc:
        # Recorded on the data source (needs_attention); the schedule retries later.
        logger.warning("scheduled token refresh of %s failed: %s", datasource_id, exc.code)


@shared_task(ignore_result=True)
def purge_oauth_grants() -> int:
    """Delete authorization-code grants past their 10-minute lifetime."""
    return oauth_grants_purge()
