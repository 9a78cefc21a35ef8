"""Prometheus metrics, all defined here, counted where things happen, served at ``/metrics``.

Every label takes values from a small fixed set or from the tenants' own object ids (a data
source's UUID): never a URL, a path or anything else a caller writes, so that no request can
make the series grow without bound.

Counting costs a lock and an add (prometheus-client): nothing that talks to Redis or the
database. What needs a round trip — the broker's queue depths — is read when scraped.

Several processes: gunicorn's workers and Celery's pool each count on their own. With
``PROMETHEUS_MULTIPROC_DIR`` set (an empty folder, cleared at each deployment, shared by the
web and worker processes of a machine), prometheus-client keeps every process's values in files
there and ``/metrics`` adds them up, whichever process answers. Unset, each process shows its
own figures (fine for one process, misleading behind several).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

# The "_created" series (a timestamp per labelled child) double the output and say little.
disable_created_metrics()

# prometheus-client reads the same variable itself, when imported, to choose where it counts.
_MULTIPROC_DIR = settings.PROMETHEUS_MULTIPROC_DIR
if _MULTIPROC_DIR:
    # It writes its files there from the first count on: the folder must exist.
    os.makedirs(_MULTIPROC_DIR, exist_ok=True)

# --- What is counted ------------------------------------------------------------------------

HTTP_REQUESTS = Counter(
    "plugboard_http_requests",
    "HTTP requests answered, by route (the URL pattern's name), method and status.",
    ["route", "method", "status"],
)
HTTP_DURATION = Histogram(
    "plugboard_http_request_duration_seconds",
    "Time to answer an HTTP request (until the view returned), by route and method.",
    ["route", "method"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
OPTIONS_CACHE = Counter(
    "plugboard_options_cache",
    "Options answers by how the cache served them: hit, miss (fetched) or stale.",
    ["outcome"],
)
UPSTREAM_CALLS = Counter(
    "plugboard_upstream_calls",
    "Outbound calls by data source, purpose (api: options, proxy, tests, tokens, bulk, polls; "
    "events: deliveries) and outcome (the answer's status class, or the error code).",
    ["datasource", "purpose", "outcome"],
)
UPSTREAM_DURATION = Histogram(
    "plugboard_upstream_call_duration_seconds",
    "Time of an outbound call until its answer was read (or it failed), by purpose.",
    ["purpose"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
TOKEN_REFRESHES = Counter(
    "plugboard_token_refreshes",
    "Token refreshes by outcome: refreshed, failed, or reused (another process had just "
    "refreshed it).",
    ["outcome"],
)
EVENT_DELIVERIES = Counter(
    "plugboard_event_delivery_attempts",
    "Event delivery attempts by outcome: delivered, retry (another attempt is scheduled) or "
    "failed (no attempt left, or an answer that is not retried).",
    ["outcome"],
)
BULK_ROWS = Counter(
    "plugboard_bulk_rows",
    "Bulk rows answered (uploads) and records written (queries); its rate is rows per second.",
    ["kind", "outcome"],
)

# The options hot path counts through children looked up once.
_OPTIONS_OUTCOMES = {name: OPTIONS_CACHE.labels(outcome=name) for name in ("hit", "miss", "stale")}


def options_answered(cache: str) -> None:
    child = _OPTIONS_OUTCOMES.get(cache)
    if child is not None:
        child.inc()


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def request_answered(route: str, method: str, status: int, seconds: float) -> None:
    method = method if method in _METHODS else "other"  # a client may send any word
    HTTP_REQUESTS.labels(route, method, str(status)).inc()
    HTTP_DURATION.labels(route, method).observe(seconds)


def upstream_labels(pool: str) -> tuple[str, str]:
    """(data source, purpose) from the outbound client's pool name: ``connection:<id>`` for
    calls on behalf of a connection (``datasource:<uuid>``), ``events:<uuid>`` for deliveries;
    anything else counts under no data source."""
    kind, _, rest = pool.partition(":")
    if kind == "connection":
        return rest.rpartition(":")[2], "api"
    if kind == "events":
        return rest, "events"
    return "", "other"


# The labelled series of upstream calls, found once (``labels`` costs more than counting):
# bounded, since a series per data source and outcome is what the metric holds anyway.
_upstream_series: dict[tuple[str, str], tuple[Any, Any]] = {}


def upstream_called(pool: str, outcome: str, seconds: float) -> None:
    series = _upstream_series.get((pool, outcome))
    if series is None:
        datasource, purpose = upstream_labels(pool)
        series = (UPSTREAM_CALLS.labels(datasource, purpose, outcome),
                  UPSTREAM_DURATION.labels(purpose))  # fmt: skip
        if len(_upstream_series) > 10_000:
            _upstream_series.clear()
        _upstream_series[(pool, outcome)] = series
    series[0].inc()
    series[1].observe(seconds)


def status_class(status: int) -> str:
    return f"{status // 100}xx" if 100 <= status < 600 else "other"


# --- Read when scraped ----------------------------------------------------------------------

# Kombu's Redis transport keeps a queue's messages in a list named after it and, for
# priorities above 0, in lists suffixed with a separator and the priority step.
_KOMBU_PRIORITY_SEPARATOR = "\x06\x16"
_KOMBU_PRIORITY_STEPS = (0, 3, 6, 9)
QUEUE_READ_TIMEOUT = 0.5


def known_queues() -> list[str]:
    """The queues this deployment sends to: the default one and those named in settings."""
    queues = [getattr(settings, "CELERY_TASK_DEFAULT_QUEUE", "") or "celery"]
    for name in ("EVENTS_QUEUE", "BULK_QUEUE"):
        queue = getattr(settings, name, "")
        if queue:
            queues.append(queue)
    for route in (getattr(settings, "CELERY_TASK_ROUTES", None) or {}).values():
        if isinstance(route, dict) and route.get("queue"):
            queues.append(route["queue"])
    return list(dict.fromkeys(queues))


_broker: dict[str, Any] = {}


def _broker_client(url: str) -> Any:
    """A Redis client of the broker, kept per process, that gives up quickly."""
    client = _broker.get(url)
    if client is None:
        import redis

        client = redis.Redis.from_url(
            url, socket_timeout=QUEUE_READ_TIMEOUT, socket_connect_timeout=QUEUE_READ_TIMEOUT
        )
        _broker.clear()
        _broker[url] = client
    return client


class QueueDepthCollector(Collector):
    """``plugboard_queue_depth``: messages waiting in each known queue of a Redis broker, read
    with one pipelined round trip per scrape (at most half a second). Other brokers are not
    read (``plugboard_queue_depth_readable`` says whether it was)."""

    def collect(self) -> Iterable[Metric]:
        url = settings.CELERY_BROKER_URL or ""
        readable = GaugeMetricFamily(
            "plugboard_queue_depth_readable",
            "1 when the broker's queue depths were read at this scrape (Redis broker), else 0.",
        )
        if not url.startswith(("redis://", "rediss://", "unix://")):
            readable.add_metric([], 0)
            yield readable
            return
        queues = known_queues()
        prefix = (settings.CELERY_BROKER_TRANSPORT_OPTIONS or {}).get("global_keyprefix", "")
        try:
            pipe = _broker_client(url).pipeline(transaction=False)
            for queue in queues:
                for step in _KOMBU_PRIORITY_STEPS:
                    suffix = f"{_KOMBU_PRIORITY_SEPARATOR}{step}" if step else ""
                    pipe.llen(f"{prefix}{queue}{suffix}")
            lengths = pipe.execute()
        except Exception as exc:  # a scrape never fails for the broker: it says so instead
            logger.warning("queue depths could not be read: %s", type(exc).__name__)
            readable.add_metric([], 0)
            yield readable
            return
        depth = GaugeMetricFamily(
            "plugboard_queue_depth", "Messages waiting in a Celery queue.", labels=["queue"]
        )
        steps = len(_KOMBU_PRIORITY_STEPS)
        for index, queue in enumerate(queues):
            depth.add_metric([queue], sum(lengths[index * steps : (index + 1) * steps]))
        readable.add_metric([], 1)
        yield depth
        yield readable


_queue_depth = QueueDepthCollector()
if not _MULTIPROC_DIR:
    REGISTRY.register(_queue_depth)


def exposition() -> tuple[bytes, str]:
    """The text a scrape gets, and its content type."""
    if _MULTIPROC_DIR:
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=_MULTIPROC_DIR)
        registry.register(_queue_depth)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
