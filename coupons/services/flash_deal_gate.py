"""The Redis gate in front of a flash deal's stock: sheds the sold-out and over-limit crowd.

One Lua script per grab checks the member's count against the limit and the deal's stock, and
takes one of each when both allow; Redis runs it atomically, so thousands of grabs in the same
second are answered without a database query once the stock is gone.

The database stays the truth (coupons.services.flash_deals settles every grab the gate lets
through), so the gate only has to be *safe to be wrong upwards*: it may let a grab through that
the database then refuses, never the opposite for long. Its keys are rebuilt from the database when
they are missing (Redis restarted or flushed mid-sale), under a short lock so that one process
does it. The keys carry the deal's ``updated_at``: saving a deal in admin starts a fresh gate.

Without ``REDIS_URL`` the gate is off and every grab goes to the database.
"""

import datetime
import logging
import time
from dataclasses import dataclass
from enum import Enum

from django.conf import settings
from django.db.models import Count
from django.utils import timezone

logger = logging.getLogger(__name__)

# Answers of the take script.
_OK, _SOLD_OUT, _LIMIT_REACHED, _REBUILD = 0, 1, 2, 3

_TAKE = """
local stock = redis.call('GET', KEYS[1])
if not stock then return 3 end
local held = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
if held >= tonumber(ARGV[2]) then return 2 end
if tonumber(stock) <= 0 then return 1 end
redis.call('DECR', KEYS[1])
redis.call('HINCRBY', KEYS[2], ARGV[1], 1)
return 0
"""

# Gives back what a grab took, only while the gate exists (a rebuilt gate already counts it).
_GIVE_BACK = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if ARGV[2] == '1' then redis.call('INCR', KEYS[1]) end
if ARGV[3] == '1' then
  local held = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
  if held > 0 then redis.call('HINCRBY', KEYS[2], ARGV[1], -1) end
end
return 1
"""

# Takes without asking, for a late payment the database has already honoured.
_CONSUME = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if tonumber(redis.call('GET', KEYS[1])) > 0 then redis.call('DECR', KEYS[1]) end
redis.call('HINCRBY', KEYS[2], ARGV[1], 1)
return 1
"""

# Installs a rebuilt gate unless another process got there first.
_INSTALL = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('DEL', KEYS[3])
  return 0
end
if redis.call('EXISTS', KEYS[3]) == 1 then
  redis.call('RENAME', KEYS[3], KEYS[2])
else
  redis.call('DEL', KEYS[2])
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
redis.call('EXPIRE', KEYS[2], ARGV[2])
return 1
"""

_REBUILD_LOCK_MS = 3000
_REBUILD_WAIT_SECONDS = 1.0
_HSET_CHUNK = 1000


class GateAnswer(Enum):
    OK = "ok"
    SOLD_OUT = "sold_out"
    LIMIT_REACHED = "limit_reached"
    # The gate could not answer (Redis down, rebuild too slow): the database decides alone.
    OPEN = "open"


@dataclass(frozen=True)
class GateDeal:
    """What the gate needs to know about a deal."""

    id: int
    version: int
    per_member_limit: int
    ends_at: datetime.datetime


class _Scripts:
    client = None
    take = give_back = consume = install = None


_scripts = _Scripts()


def gate_enabled() -> bool:
    return bool(settings.REDIS_URL)


def _client():
    if _scripts.client is None:
        from django_redis import get_redis_connection

        client = get_redis_connection("default")
        _scripts.take = client.register_script(_TAKE)
        _scripts.give_back = client.register_script(_GIVE_BACK)
        _scripts.consume = client.register_script(_CONSUME)
        _scripts.install = client.register_script(_INSTALL)
        _scripts.client = client
    return _scripts.client


def _keys(deal: GateDeal) -> tuple[str, str]:
    # One hash tag per deal generation keeps both keys on one Redis Cluster slot.
    tag = f"flash:{{{deal.id}:{deal.version}}}"
    return f"{tag}:stock", f"{tag}:members"


def _ttl_seconds(deal: GateDeal) -> int:
    left = (deal.ends_at - timezone.now()).total_seconds()
    return int(max(left, 0) + 86400)


def gate_take(*, deal: GateDeal, member_id: int) -> GateAnswer:
    """Ask the gate for one unit of ``deal`` for ``member_id``; takes it when the answer is OK.

    Rebuilds the gate from the database when its keys are missing. Never raises: when Redis
    cannot answer, the answer is OPEN and the database settles the grab alone.
    """
    if not gate_enabled():
        return GateAnswer.OPEN
    stock_key, members_key = _keys(deal)
    deadline = time.monotonic() + _REBUILD_WAIT_SECONDS
    try:
        client = _client()
        while True:
            answer = _scripts.take(
                keys=[stock_key, members_key], args=[member_id, deal.per_member_limit]
            )
            if answer == _OK:
                return GateAnswer.OK
            if answer == _SOLD_OUT:
                return GateAnswer.SOLD_OUT
            if answer == _LIMIT_REACHED:
                return GateAnswer.LIMIT_REACHED
            if time.monotonic() > deadline:
                return GateAnswer.OPEN
            if not _rebuild(client, deal):
                time.sleep(0.02)
    except Exception:
        logger.warning("flash deal gate unavailable for deal %s", deal.id, exc_info=True)
        return GateAnswer.OPEN


def _rebuild(client, deal: GateDeal) -> bool:
    """Rebuild the gate from the database if this process wins the lock; False when it did not."""
    from coupons.models import FlashDeal, FlashOrder

    stock_key, members_key = _keys(deal)
    lock_key = f"{stock_key}:rebuild"
    if not client.set(lock_key, "1", nx=True, px=_REBUILD_LOCK_MS):
        return False
    try:
        remaining = (
            FlashDeal.objects.filter(pk=deal.id).values_list("remaining_stock", flat=True).first()
        )
        if remaining is None:
            remaining = 0
        counts = (
            FlashOrder.objects.live()
            .filter(deal_id=deal.id)
            .values_list("member_id")
            .annotate(n=Count("id"))
        )
        staging_key = f"{members_key}:staging"
        pipe = client.pipeline(transaction=False)
        pipe.delete(staging_key)
        mapping = {}
        for member_id, n in counts.iterator():
            mapping[member_id] = n
            if len(mapping) >= _HSET_CHUNK:
                pipe.hset(staging_key, mapping=mapping)
                mapping = {}
        if mapping:
            pipe.hset(staging_key, mapping=mapping)
        pipe.expire(staging_key, 60)
        pipe.execute()
        _scripts.install(
            keys=[stock_key, members_key, staging_key], args=[remaining, _ttl_seconds(deal)]
        )
        logger.info("flash deal gate rebuilt for deal %s: %s left", deal.id, remaining)
        return True
    finally:
        client.delete(lock_key)


def gate_give_back(*, deal: GateDeal, member_id: int, stock: bool = True, member: bool = True):
    """Return what ``gate_take`` took: the stock unit, the member's count, or both. Best effort."""
    if not gate_enabled():
        return
    stock_key, members_key = _keys(deal)
    try:
        _client()
        _scripts.give_back(
            keys=[stock_key, members_key],
            args=[member_id, "1" if stock else "0", "1" if member else "0"],
        )
    except Exception:
        logger.warning("flash deal gate give-back failed for deal %s", deal.id, exc_info=True)


def gate_consume(*, deal: GateDeal, member_id: int):
    """Mirror a unit the database sold outside a grab (a late payment honoured). Best effort."""
    if not gate_enabled():
        return
    stock_key, members_key = _keys(deal)
    try:
        _client()
        _scripts.consume(keys=[stock_key, members_key], args=[member_id])
    except Exception:
        logger.warning("flash deal gate consume failed for deal %s", deal.id, exc_info=True)


def gate_remaining(*, deal: GateDeal) -> int | None:
    """The gate's stock for ``deal``, None when it has none (tests and admin diagnostics)."""
    if not gate_enabled():
        return None
    value = _client().get(_keys(deal)[0])
    return None if value is None else int(value)
