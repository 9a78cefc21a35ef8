"""Every periodic task, in one place, each with the reason for its cadence."""

from __future__ import annotations

from datetime import timedelta

BEAT_SCHEDULE: dict[str, dict] = {
    # The worker reports that it is alive once a minute; /healthz shows how long ago that was,
    # so an operator sees a stopped worker or beat within a couple of minutes.
    "worker-heartbeat": {
        "task": "apps.core.tasks.worker_heartbeat",
        "schedule": timedelta(seconds=60),
    },
    # Tokens are refreshed when they have less than 5 minutes left (tokens.REFRESH_AHEAD);
    # checking every minute leaves several attempts before any expires, so callers never wait
    # for a refresh and a token never silently lapses.
    "refresh-expiring-tokens": {
        "task": "apps.datasources.tasks.refresh_expiring_tokens",
        "schedule": timedelta(seconds=60),
    },
    # Authorization-code grants are single-use and live 10 minutes; an hourly sweep keeps the
    # table to the grants of the last hour or so (each holds an encrypted PKCE verifier).
    "purge-oauth-grants": {
        "task": "apps.datasources.tasks.purge_oauth_grants",
        "schedule": timedelta(hours=1),
    },
    # Options entries live 300 s; sweeping every minute keeps anything past that for at most a
    # minute longer, through the indexes (never KEYS), in batches.
    "purge-options-cache": {
        "task": "apps.items.tasks.purge_options_cache",
        "schedule": timedelta(seconds=60),
    },
}
