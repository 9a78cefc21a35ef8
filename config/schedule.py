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
    # The wizard creates a data source at its name step; one whose connection was never
    # configured (a draft, no base URL) is what an abandoned wizard left. Drafts older than 24
    # hours with nothing attached are deleted (audited): a day leaves a person time to come back
    # and finish, and hourly is often enough for rows nobody uses.
    "purge-abandoned-drafts": {
        "task": "apps.datasources.tasks.purge_abandoned_drafts",
        "schedule": timedelta(hours=1),
    },
    # Options entries live 300 s; sweeping every minute keeps anything past that for at most a
    # minute longer, through the indexes (never KEYS), in batches.
    "purge-options-cache": {
        "task": "apps.items.tasks.purge_options_cache",
        "schedule": timedelta(seconds=60),
    },
    # Deliveries are enqueued when recorded and when a retry falls due; the sweep re-enqueues
    # those whose task was lost (a killed worker, a restarted broker). Its cadence is
    # EVENTS_SWEEP_SECONDS (set in settings), so a lost delivery waits about that long.
    "sweep-event-deliveries": {
        "task": "apps.events.tasks.sweep_deliveries",
        "schedule": timedelta(seconds=30),
    },
    # Polls are enqueued ahead, each at its own (jittered) time, for the next scan period, so
    # a thousand data sources polled every 5 minutes spread over those minutes.
    "scan-polls": {
        "task": "apps.events.tasks.scan_polls",
        "schedule": timedelta(seconds=30),
    },
    # Events live EVENTS_RETENTION_DAYS; an hourly purge in batches keeps the table bounded
    # without long-running deletes.
    "purge-old-events": {
        "task": "apps.events.tasks.purge_old_events",
        "schedule": timedelta(hours=1),
    },
    # A running bulk job renews its lease; one whose worker died is resumed by this sweep once
    # the lease ran out, and jobs whose task was lost are sent again. Its cadence is
    # BULK_SWEEP_SECONDS (set in settings).
    "resume-bulk-jobs": {
        "task": "apps.bulk.tasks.resume_bulk_jobs",
        "schedule": timedelta(seconds=30),
    },
    # Files of finished jobs (uploads and results) are kept BULK_RESULT_DAYS; an hourly purge
    # deletes what is older.
    "purge-bulk-files": {
        "task": "apps.bulk.tasks.purge_bulk_files",
        "schedule": timedelta(hours=1),
    },
}
