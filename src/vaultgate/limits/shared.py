"""The Redis backend: one Lua script per admission and one per settlement, so replicas share exact counts.

Time comes from Redis ``TIME`` inside the scripts: windows and budget periods are the same
for every replica whatever their host clocks say. Keys (per scope, under a prefix):

    <prefix><scope>:r        hash  second -> requests      (expires after the window)
    <prefix><scope>:t        hash  second -> tokens
    <prefix><scope>:c        zset  request id -> lease end (renewed while the request runs; a crashed
                             replica's leases expire within the lease time)
    <prefix><scope>:b:<pid>  int   micro-USD spent + reserved in period <pid> (d20260131, m202601)

The scripts build the suffixed key names from the base keys they are given, so this needs
one Redis (or a primary with replicas), not Redis Cluster.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from vaultgate.limits.interface import Admission, Demand, LimiterBackend, LimitsUnavailable
from vaultgate.limits.redis_batch import ScriptBatcher

_COMMON = """
local BUCKETS = 61
local t = redis.call('TIME')
local sec = tonumber(t[1])
local now = sec + tonumber(t[2]) / 1000000
"""

_ADMIT = (
    _COMMON
    + """
local function days_from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = math.floor(y / 400)
  local yoe = y - era * 400
  local mp = (m > 2) and (m - 3) or (m + 9)
  local doy = math.floor((153 * mp + 2) / 5) + d - 1
  local doe = yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
end
local function civil(days)
  local z = days + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524) - math.floor(doe / 146096)) / 365)
  local y = yoe + era * 400
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local d = doy - math.floor((153 * mp + 2) / 5) + 1
  local m = (mp < 10) and (mp + 3) or (mp - 9)
  if m <= 2 then y = y + 1 end
  return y, m, d
end
local function period(kind)
  local days = math.floor(sec / 86400)
  local y, m, d = civil(days)
  if kind == 'day' then
    return string.format('d%04d%02d%02d', y, m, d), (days + 1) * 86400
  end
  local ny, nm = y, m + 1
  if nm == 13 then ny, nm = y + 1, 1 end
  return string.format('m%04d%02d', y, m), days_from_civil(ny, nm, 1) * 86400
end
local function window(key)
  local raw = redis.call('HGETALL', key)
  local used, items, stale = 0, {}, {}
  for i = 1, #raw, 2 do
    local b, c = tonumber(raw[i]), tonumber(raw[i + 1])
    if b <= sec - BUCKETS then stale[#stale + 1] = raw[i] else used = used + c; items[#items + 1] = {b, c} end
  end
  if #stale > 0 then redis.call('HDEL', key, unpack(stale)) end
  table.sort(items, function(a, b) return a[1] < b[1] end)
  return used, items
end
local function wait_ms(items, need)
  local freed = 0
  for _, it in ipairs(items) do
    freed = freed + it[2]
    if freed >= need then return math.max(0, math.ceil((it[1] + BUCKETS - now) * 1000)) end
  end
  return BUCKETS * 1000
end
local function oldest_ms(items)
  if #items == 0 then return -1 end
  return math.max(0, math.ceil((items[1][1] + BUCKETS - now) * 1000))
end

local n, rid = tonumber(ARGV[1]), ARGV[2]
local tokens, cost, lease = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
-- head: limit, remaining, reset_ms for requests (1..3) and tokens (4..6); -1 = none
local head = {-1, -1, -1, -1, -1, -1}
local periods = {}
for i = 1, n do
  local base, a = KEYS[i], 5 + (i - 1) * 5
  local rpm, tpm, conc = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
  local cap, pkind = tonumber(ARGV[a + 4]), ARGV[a + 5]
  local checks = {{'requests', rpm, ':r', 1, 1}, {'tokens', tpm, ':t', tokens, 4}}
  for _, c in ipairs(checks) do
    local kind, limit, suffix, amount, h = c[1], c[2], c[3], c[4], c[5]
    if limit >= 0 then
      local used, items = window(base .. suffix)
      if used + amount > limit then
        local retry = BUCKETS * 1000
        if amount <= limit then retry = wait_ms(items, used + amount - limit) end
        return {0, kind, retry, h, limit, oldest_ms(items)}
      end
      local remaining = limit - used - amount
      if head[h] < 0 or remaining < head[h + 1] then
        local reset = oldest_ms(items)
        if reset < 0 then reset = BUCKETS * 1000 end
        head[h], head[h + 1], head[h + 2] = limit, remaining, reset
      end
    end
  end
  if conc >= 0 then
    redis.call('ZREMRANGEBYSCORE', base .. ':c', '-inf', now)
    if redis.call('ZCARD', base .. ':c') >= conc then return {0, 'concurrency', 1000, 0, 0, 0} end
  end
  periods[i] = ''
  if cap >= 0 then
    local pid, pend = period(pkind)
    local spent = tonumber(redis.call('GET', base .. ':b:' .. pid) or '0')
    if spent + cost > cap then return {0, 'budget', math.ceil((pend - now) * 1000), 0, 0, 0} end
    periods[i] = pid .. '|' .. pend
  end
end
for i = 1, n do
  local base, a = KEYS[i], 5 + (i - 1) * 5
  if tonumber(ARGV[a + 1]) >= 0 then
    redis.call('HINCRBY', base .. ':r', sec, 1)
    redis.call('EXPIRE', base .. ':r', BUCKETS + 1)
  end
  if tonumber(ARGV[a + 2]) >= 0 then
    redis.call('HINCRBY', base .. ':t', sec, tokens)
    redis.call('EXPIRE', base .. ':t', BUCKETS + 1)
  end
  if tonumber(ARGV[a + 3]) >= 0 then
    redis.call('ZADD', base .. ':c', now + lease, rid)
    redis.call('EXPIRE', base .. ':c', math.ceil(lease) + 60)
  end
  if periods[i] ~= '' then
    local sep = string.find(periods[i], '|', 1, true)
    local pid, pend = string.sub(periods[i], 1, sep - 1), tonumber(string.sub(periods[i], sep + 1))
    local key = base .. ':b:' .. pid
    redis.call('INCRBY', key, cost)
    redis.call('EXPIREAT', key, pend + 7 * 86400)
    periods[i] = pid
  end
end
local out = {1, '', 0, head[1], head[2], head[3], head[4], head[5], head[6], sec}
for i = 1, n do out[#out + 1] = periods[i] end
return out
"""
)

_RENEW = (
    _COMMON
    + """
local lease = tonumber(ARGV[1])
for i = 1, #KEYS do
  local key = KEYS[i] .. ':c'
  if redis.call('ZSCORE', key, ARGV[i + 1]) then
    redis.call('ZADD', key, now + lease, ARGV[i + 1])
    redis.call('EXPIRE', key, math.ceil(lease) + 60)
  end
end
return 1
"""
)

_SETTLE = """
local n, rid, bucket = tonumber(ARGV[1]), ARGV[2], ARGV[3]
local dtokens, dcost = tonumber(ARGV[4]), tonumber(ARGV[5])
for i = 1, n do
  local base, a = KEYS[i], 5 + (i - 1) * 3
  if ARGV[a + 2] == '1' then redis.call('ZREM', base .. ':c', rid) end
  if ARGV[a + 1] == '1' and dtokens ~= 0 and redis.call('HEXISTS', base .. ':t', bucket) == 1 then
    redis.call('HINCRBY', base .. ':t', bucket, dtokens)
  end
  local pid = ARGV[a + 3]
  if pid ~= '' and dcost ~= 0 and redis.call('EXISTS', base .. ':b:' .. pid) == 1 then
    redis.call('INCRBY', base .. ':b:' .. pid, dcost)
  end
end
return 1
"""


def _opt(value: int | None) -> int:
    return -1 if value is None else value


def _seconds(ms: Any) -> float | None:
    value = int(ms)
    return None if value < 0 else value / 1000


# The least time a request waits for a pooled connection, and for a new connection to open.
POOL_WAIT_SECONDS = 5.0
CONNECT_SECONDS = 2.0


class RedisBackend(LimiterBackend):
    """Counters in Redis, shared by every worker and replica that uses the same URL and prefix."""

    def __init__(
        self, url: str, *, prefix: str = "vaultgate:limits:", timeout: float = 0.5, max_connections: int = 32
    ) -> None:
        # No retries: a script retried after a timeout could charge twice; failing closed is the safe answer.
        # ``timeout`` bounds how long Redis may take to answer. Scripts go in pipelines, at most one per
        # pooled connection (limits/redis_batch.py), so a burst shares round trips instead of queueing for
        # connections. Waiting for a pooled connection (only the readiness PING may still have to) and
        # opening one get more room; an unreachable Redis still fails fast: a refused connection fails at
        # once, and a pipeline that gets no answer fails within ``timeout``.
        pool = aioredis.BlockingConnectionPool.from_url(
            url,
            max_connections=max_connections,
            timeout=max(timeout, POOL_WAIT_SECONDS),
            socket_timeout=timeout,
            socket_connect_timeout=max(timeout, CONNECT_SECONDS),
            retry=Retry(NoBackoff(), 0),
        )
        self._redis: aioredis.Redis = aioredis.Redis(connection_pool=pool)
        self._prefix = prefix
        self._admit = self._redis.register_script(_ADMIT)
        self._settle = self._redis.register_script(_SETTLE)
        self._renew = self._redis.register_script(_RENEW)
        # One lane fewer than connections: the readiness PING always finds one.
        self._scripts = ScriptBatcher(self._redis, lanes=max(1, max_connections - 1))

    async def stop(self) -> None:
        """Close the connection pool."""
        await self._redis.aclose()
        await self._redis.connection_pool.disconnect()

    async def reachable(self) -> bool:
        """A PING within the script timeout."""
        try:
            return bool(await self._redis.ping())
        except (RedisError, OSError):
            return False

    async def admit(self, demand: Demand) -> Admission:
        """One script run: check everything, charge everything or nothing."""
        keys = [self._prefix + sd.scope for sd in demand.scopes]
        args: list[Any] = [len(keys), demand.request_id, demand.tokens, demand.cost_micro_usd, demand.lease_seconds]
        for sd in demand.scopes:
            lim = sd.limits
            args += [_opt(lim.rpm), _opt(lim.tpm), _opt(lim.concurrency), _opt(lim.budget_micro_usd), lim.budget_period]
        try:
            out = await self._scripts.call(self._admit, keys, args)
        except RedisError as exc:
            raise LimitsUnavailable(type(exc).__name__) from exc
        if int(out[0]) == 0:
            reason = out[1].decode()
            kind = "requests" if int(out[3]) == 1 else "tokens" if int(out[3]) == 4 else None
            if kind is None:
                return Admission(False, reason, int(out[2]) / 1000)
            reset = _seconds(out[5])
            if kind == "requests":
                return Admission(False, reason, int(out[2]) / 1000, int(out[4]), 0, reset)
            return Admission(
                False, reason, int(out[2]) / 1000, limit_tokens=int(out[4]), remaining_tokens=0, reset_tokens=reset
            )
        lr, lt = int(out[3]), int(out[6])
        return Admission(
            True,
            limit_requests=None if lr < 0 else lr,
            remaining_requests=None if lr < 0 else int(out[4]),
            reset_requests=None if lr < 0 else _seconds(out[5]),
            limit_tokens=None if lt < 0 else lt,
            remaining_tokens=None if lt < 0 else int(out[7]),
            reset_tokens=None if lt < 0 else _seconds(out[8]),
            bucket=int(out[9]),
            periods=tuple(p.decode() for p in out[10:]),
        )

    async def settle(self, demand: Demand, admission: Admission, tokens: int, cost_micro_usd: int) -> None:
        """One script run: release the lease, correct tokens and spend."""
        keys = [self._prefix + sd.scope for sd in demand.scopes]
        args: list[Any] = [
            len(keys),
            demand.request_id,
            admission.bucket,
            tokens - demand.tokens,
            cost_micro_usd - demand.cost_micro_usd,
        ]
        for sd, pid in zip(demand.scopes, admission.periods, strict=True):
            args += [int(sd.limits.tpm is not None), int(sd.limits.concurrency is not None), pid]
        try:
            await self._scripts.call(self._settle, keys, args)
        except RedisError as exc:
            raise LimitsUnavailable(type(exc).__name__) from exc

    async def renew(self, demands: Sequence[Demand], lease_seconds: float) -> None:
        """One script run for every running lease of this process (ZADD XX: released ones stay released)."""
        keys: list[str] = []
        rids: list[str] = []
        for demand in demands:
            for sd in demand.scopes:
                if sd.limits.concurrency is not None:
                    keys.append(self._prefix + sd.scope)
                    rids.append(demand.request_id)
        if not keys:
            return
        try:
            await self._scripts.call(self._renew, keys, [lease_seconds, *rids])
        except RedisError as exc:
            raise LimitsUnavailable(type(exc).__name__) from exc

    async def spent(self, scope: str, period: str) -> int:
        """Micro-USD spent and reserved by a scope in a period id (for tests and reports)."""
        value = await self._redis.get(f"{self._prefix}{scope}:b:{period}")
        return int(value or 0)
