"""Every key the options cache writes, and how long it lives. Names are those of the default
cache; ``redis.key`` adds the prefix for raw Redis."""

# An entry is served for 300 s; its last-good copy 10 minutes longer, only when the upstream
# fails; an index outlives its entries by an hour.
FRESH_SECONDS = 300
STALE_SECONDS = 600
INDEX_SECONDS = FRESH_SECONDS + STALE_SECONDS + 3600
FAILURE_SECONDS = 5

# The set of every per-data-source index, which the periodic purge walks.
INDEX_ALL = "optidx:all"


def entry(name: str) -> str:
    return f"opt:{name}"


def stale(name: str) -> str:
    """The entry's last-good copy."""
    return f"stale:{name}"


def index(datasource_id: object) -> str:
    """The sorted set of a data source's entry names, scored by when they were fetched."""
    return f"optidx:{datasource_id}"


def flight(name: str) -> str:
    """The lock of the one request fetching the entry."""
    return f"flight:{name}"


def failure(name: str) -> str:
    """How that request's fetch failed, for the requests waiting on it."""
    return f"flighterr:{name}"


def purge_stamp(datasource_id: object) -> str:
    """The stamp an entry of the data source is written under (in its value); moving it makes
    every entry of the data source a miss at once, without a database write (see
    ``indexes.purge_datasource``)."""
    return f"stamp:optpurge:{datasource_id}"
