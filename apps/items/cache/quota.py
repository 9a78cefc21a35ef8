"""Each tenant's cached options are bounded in bytes (its ``cache_bytes`` limit): the oldest
entries go first when a new one would pass the limit.

Per tenant, a sorted set of its entries (score: when fetched), a hash of their sizes (an entry
and its last-good copy) and their total. A store adds to them in its own pipeline; a total past
the limit evicts the oldest in one script. The periodic purge takes out the entries that have
expired. (An entry removed by a data source's purge is counted until it would have expired:
the total errs on the high side for a quarter of an hour.)
"""

from __future__ import annotations

from typing import Any

from apps.core import redis
from apps.items.cache import OUTAGE, keys

# Adds an entry's size (replacing what the same name took before); answers the new total.
_ADD = """
local old = tonumber(redis.call('hget', KEYS[2], ARGV[1]) or '0')
redis.call('hset', KEYS[2], ARGV[1], ARGV[2])
redis.call('zadd', KEYS[1], ARGV[3], ARGV[1])
local total = redis.call('incrby', KEYS[3], tonumber(ARGV[2]) - old)
for i = 1, 3 do redis.call('expire', KEYS[i], ARGV[4]) end
return total
"""
# Evicts the oldest entries until the total is within the limit (at most ARGV[4] of them).
_EVICT = """
local total = tonumber(redis.call('get', KEYS[3]) or '0')
local evicted = 0
while total > tonumber(ARGV[1]) and evicted < tonumber(ARGV[4]) do
  local oldest = redis.call('zrange', KEYS[1], 0, 0)
  if #oldest == 0 then break end
  local name = oldest[1]
  local size = tonumber(redis.call('hget', KEYS[2], name) or '0')
  redis.call('del', ARGV[2] .. name, ARGV[3] .. name)
  redis.call('zrem', KEYS[1], name)
  redis.call('hdel', KEYS[2], name)
  total = redis.call('decrby', KEYS[3], size)
  evicted = evicted + 1
end
return evicted
"""
# Takes out the entries fetched before ARGV[1] (both copies have expired by then).
_EXPIRE = """
local names = redis.call('zrangebyscore', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local freed = 0
for _, name in ipairs(names) do
  freed = freed + tonumber(redis.call('hget', KEYS[2], name) or '0')
  redis.call('hdel', KEYS[2], name)
  redis.call('zrem', KEYS[1], name)
end
if freed > 0 then redis.call('decrby', KEYS[3], freed) end
return #names
"""
EVICT_BATCH = 1000
TENANTS = "optquota:tenants"  # the tenants whose entries are counted


def _keys(tenant_id: Any) -> list[str]:
    return [redis.key(f"optquota:{tenant_id}:{part}") for part in ("entries", "sizes", "total")]


def queue_add(pipe: Any, tenant_id: Any, name: str, size: int, fetched_at: float) -> None:
    """Count an entry of ``size`` bytes (both copies) for its tenant, in a pipeline whose
    result for it is the tenant's new total."""
    ttl = keys.FRESH_SECONDS + keys.STALE_SECONDS + 3600
    pipe.eval(_ADD, 3, *_keys(tenant_id), name, size, fetched_at, ttl)
    pipe.sadd(redis.key(TENANTS), str(tenant_id))


def evict(client: Any, tenant_id: Any, limit: int) -> int:
    """Evict the tenant's oldest entries until it is within ``limit`` bytes; how many."""
    try:
        return int(client.eval(_EVICT, 3, *_keys(tenant_id), limit,
                               redis.key(keys.entry("")), redis.key(keys.stale("")),
                               EVICT_BATCH))  # fmt: skip
    except Exception as exc:
        OUTAGE.failed(exc)
        return 0


def total(tenant_id: Any) -> int:
    client = redis.client()
    value = client.get(_keys(tenant_id)[2]) if client is not None else None
    return int(value or 0)


def expire_counted(client: Any, before: float, batch: int = 500) -> int:
    """Stop counting the entries fetched before ``before`` (periodic purge); how many."""
    removed = 0
    for tenant in client.sscan_iter(redis.key(TENANTS), count=batch):
        tenant_id = tenant.decode()
        while True:
            count = int(client.eval(_EXPIRE, 3, *_keys(tenant_id), before, batch))
            removed += count
            if count < batch:
                break
        if not client.exists(_keys(tenant_id)[0]):
            client.srem(redis.key(TENANTS), tenant_id)
    return removed
