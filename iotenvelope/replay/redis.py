"""``redis://``: replay state in a Redis server, one Lua script per batch."""

from __future__ import annotations


from ..errors import StoreError, UsageError
from .window import DEFAULT_WINDOW, _error
from .store import ReplayStore, _items, _redact  # noqa: F401


def _password_of(url: str) -> str | None:
    """The password in a Redis URL (userinfo or ?password=), to keep it out of every message."""
    from urllib.parse import parse_qsl, unquote, urlsplit
    try:
        parts = urlsplit(url)
        found = [unquote(parts.password)] if parts.password else []
    except ValueError:
        found = []
    found += [v for k, v in parse_qsl(url.partition("?")[2]) if k.lower() == "password" and v]
    return found[0] if found else None


# The window of Window.check, in Lua, run atomically by Redis for a whole batch.
# Key layout (one string per stream): bytes 0..7 = top + 1 as a signed 64-bit big-endian integer (0: nothing
# accepted yet), then the ring of `blocks` 64-bit blocks; bit (64 + seq % ring) records seq.
# KEYS = the stream keys; ARGV = window, blocks, then one (key index, seq) pair per message.
# Returns one verdict per message (0 accept, 1 duplicate, 2 too old) followed by the top each was judged against.
_REDIS_LUA = """
local window = tonumber(ARGV[1])
local blocks = tonumber(ARGV[2])
local ring = blocks * 64
local zero_block = string.rep('\\0', 8)
local n = (#ARGV - 2) / 2
local verdicts, tops = {}, {}
for i = 1, n do
  local key = KEYS[tonumber(ARGV[1 + 2 * i])]
  local seq = tonumber(ARGV[2 + 2 * i])
  local top = redis.call('BITFIELD', key, 'GET', 'i64', 0)[1] - 1
  local verdict = 0
  if seq > top then
    local old_block, new_block = math.floor(top / 64), math.floor(seq / 64)
    if new_block - old_block >= blocks then
      redis.call('SETRANGE', key, 8, string.rep('\\0', blocks * 8))
    else
      for b = old_block + 1, new_block do
        redis.call('SETRANGE', key, 8 + 8 * (b % blocks), zero_block)
      end
    end
    redis.call('BITFIELD', key, 'SET', 'i64', 0, seq + 1)
  elseif seq <= top - window then
    verdict = 2
  elseif redis.call('GETBIT', key, 64 + seq % ring) == 1 then
    verdict = 1
  end
  if verdict == 0 then
    redis.call('SETBIT', key, 64 + seq % ring, 1)
  end
  verdicts[i] = verdict
  tops[i] = top
end
for i = 1, n do verdicts[n + i] = tops[i] end
return verdicts
"""

_REDIS_NEXT_SEND = "return redis.call('INCR', KEYS[1]) - 1"

# The answer-rate rule of store._rate_decide on the comma-separated answer times in KEYS[1].
# ARGV = now, limit, period. Returns 1 (answer; the time is counted) or 0 (refuse).
_REDIS_RATE = """
local now, limit, period = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local kept = {}
for t in string.gmatch(redis.call('GET', KEYS[1]) or '', '[^,]+') do
  if tonumber(t) > now - period then kept[#kept + 1] = t end
end
local allowed = 0
if #kept < limit then
  kept[#kept + 1] = tostring(now)
  allowed = 1
end
redis.call('SET', KEYS[1], table.concat(kept, ','))
return allowed
"""

# maxmemory-policy values under which Redis may evict keys that have no TTL (the store's keys have none).
EVICTING_POLICIES = ("allkeys-lru", "allkeys-lfu", "allkeys-random")


class RedisStore(ReplayStore):
    """State in a Redis server; each :meth:`accept_many` is one atomic Lua script call (one round trip).

    A replay-only store: it has no :meth:`transaction` that could also hold the caller's writes, so a process
    that dies between ``open`` returning and its own write loses that message (at most once).

    Opening refuses a server whose ``maxmemory-policy`` may evict keys without a TTL (``allkeys-*``): an
    evicted window would accept old envelopes again."""

    def __init__(self, url: str, window: int = DEFAULT_WINDOW, *, prefix: str = "iotenvelope:"):
        super().__init__(window)
        try:
            import redis  # optional dependency: pip install iotenvelope[redis]
        except ImportError:
            raise StoreError("redis:// replay stores need the 'redis' package (pip install iotenvelope[redis])") from None
        self._errors = (redis.exceptions.RedisError, OSError)
        self.url = _redact(url)
        self.prefix = prefix
        self._secrets = [p for p in (_password_of(url),) if p]
        try:
            self._r = redis.Redis.from_url(url, socket_timeout=30, socket_connect_timeout=10)
            self._check_policy(redis.exceptions.ResponseError)
            self._accept_script = self._r.register_script(_REDIS_LUA)
            self._send_script = self._r.register_script(_REDIS_NEXT_SEND)
            self._rate_script = self._r.register_script(_REDIS_RATE)
            key = prefix + "config:window"
            self._r.set(key, str(self.window.size), nx=True)
            stored = self._r.get(key)
        except self._errors as exc:
            raise StoreError(f"Redis store {self.url}: {self._clean(exc)}") from None
        except ValueError as exc:  # from_url rejects a malformed URL with ValueError
            raise UsageError(f"Redis store URL {self.url}: {exc}") from None
        except TypeError:  # a query option the client's connection does not take (it becomes a keyword argument)
            raise UsageError(f"Redis store URL {self.url}: a query option is not one the redis client knows") from None
        if stored is not None and stored.decode("ascii", "replace") != str(self.window.size):
            raise StoreError(f"Redis store {self.url} (prefix {prefix!r}) was created with window"
                             f" {stored.decode('ascii', 'replace')}; this process uses {self.window.size}")

    def _clean(self, exc: BaseException) -> str:
        """The client's error text with the password (should the client ever echo it) replaced."""
        text = str(exc)
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def _check_policy(self, response_error: type) -> None:
        """StoreError if the server may evict the store's keys (F3: an evicted window accepts replays)."""
        try:
            policy = self._r.config_get("maxmemory-policy").get("maxmemory-policy")
        except response_error:  # CONFIG renamed or disabled (managed Redis): INFO still reports it
            policy = self._r.info("memory").get("maxmemory_policy")
        if isinstance(policy, bytes):
            policy = policy.decode("ascii", "replace")
        if not isinstance(policy, str):
            raise StoreError(f"Redis store {self.url}: cannot read the server's maxmemory-policy setting; refusing"
                             " a server that might evict replay state")
        if policy in EVICTING_POLICIES or policy.startswith("allkeys-"):
            raise StoreError(f"Redis store {self.url}: the server's maxmemory-policy is {policy!r}, under which"
                             " Redis evicts keys without a TTL, such as the replay windows (an evicted window"
                             " accepts old envelopes again). Set maxmemory-policy to noeviction (or a volatile-*"
                             " policy) on this server")

    def _key(self, kind: str, device: str, direction: str) -> str:
        return f"{self.prefix}{kind}:{direction}:{device}"

    def _accept_many(self, items):
        keys: dict[str, int] = {}
        args: list[int] = [self.window.size, self.window.blocks]
        for device, direction, seq in items:
            index = keys.setdefault(self._key("w", device, direction), len(keys) + 1)
            args += [index, seq]
        try:
            reply = self._accept_script(keys=list(keys), args=args)
        except self._errors as exc:
            raise StoreError(f"Redis store {self.url}: replay check failed: {self._clean(exc)}") from None
        n = len(items)
        return [_error(int(reply[i]), d, r, s, int(reply[n + i]), self.window.size)
                for i, (d, r, s) in enumerate(items)]

    def _top(self, device, direction):
        try:
            return int(self._r.bitfield(self._key("w", device, direction)).get("i64", 0).execute()[0]) - 1
        except self._errors as exc:
            raise StoreError(f"Redis store {self.url}: read failed: {self._clean(exc)}") from None

    def _next_send_seq(self, device, direction):
        try:
            return int(self._send_script(keys=[self._key("c", device, direction)]))
        except self._errors as exc:
            raise StoreError(f"Redis store {self.url}: send counter failed: {self._clean(exc)}") from None

    def _limit_resync(self, device, now, limit, period):
        try:
            return int(self._rate_script(keys=[self._key("r", device, "up")], args=[now, limit, period])) == 1
        except self._errors as exc:
            raise StoreError(f"Redis store {self.url}: resync rate failed: {self._clean(exc)}") from None

    def close(self) -> None:
        try:
            self._r.close()
        except self._errors:
            pass


