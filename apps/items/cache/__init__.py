"""The options cache.

Entries are keyed by tenant, data source (and its ``cache_version``), item (and its
``cache_version``) and a digest of the evaluated request, so any change to a data source or an
item makes its old entries unreachable at once. Only successful upstream answers are stored.

- ``keys``: every key the cache writes in Redis;
- ``backend``: the entries and their last-good copies, read and written;
- ``indexes``: the per-data-source indexes, the periodic purge and the purge of one data source;
- ``flight``: single flight, one upstream fetch per entry at a time.

With Redis down, every call goes to the upstream: nothing fails, and it is logged once
(``OUTAGE``). Without Redis at all (the embedded default) entries live in the process's
local-memory cache.
"""

import logging

from apps.core import redis

OUTAGE = redis.Outage(
    logging.getLogger("plugboard.cache"),
    failed="options cache unavailable (%s); calling upstreams directly",
    recovered="options cache reachable again",
)
