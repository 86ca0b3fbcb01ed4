"""Reads for flash deals: the grab path's cached deal, the shopper's deal list, orders, figures."""

import datetime
import threading
import time
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Count, Q, QuerySet

from coupons.exceptions import DealNotFoundError, FlashOrderNotFoundError
from coupons.models import (
    DealReminder,
    FlashDeal,
    FlashOrder,
    FlashOrderStatus,
)
from coupons.services.flash_deal_gate import GateDeal
from members.models import Member


@dataclass(frozen=True)
class DealSnapshot:
    """The parts of a deal the grab path reads, cached per process for a second or two."""

    id: int
    campaign_id: int
    title: str
    price_fen: int
    starts_at: datetime.datetime
    ends_at: datetime.datetime
    per_member_limit: int
    requires_phone: bool
    required_tag_id: int | None
    payment_window: datetime.timedelta
    is_paused: bool
    updated_at: datetime.datetime

    @property
    def gate(self) -> GateDeal:
        return GateDeal(
            id=self.id,
            version=int(self.updated_at.timestamp() * 1_000_000),
            per_member_limit=self.per_member_limit,
            ends_at=self.ends_at,
        )


_SNAPSHOT_FIELDS = [
    "id",
    "campaign_id",
    "title",
    "price_fen",
    "starts_at",
    "ends_at",
    "per_member_limit",
    "requires_phone",
    "required_tag_id",
    "payment_window",
    "is_paused",
    "updated_at",
]

_snapshots: dict[int, tuple[float, DealSnapshot | None]] = {}
_snapshots_lock = threading.Lock()


def deal_snapshot_get(*, deal_id: int) -> DealSnapshot:
    """The deal as the grab path needs it; raises DealNotFoundError.

    Cached in this process for ``FLASH_DEAL_CACHE_SECONDS``: the crowd grabbing one deal costs
    one query per process per second, not one per request. A pause or an edit in admin is seen
    by every process within that time; the stock is never read from here.
    """
    ttl = settings.FLASH_DEAL_CACHE_SECONDS
    now = time.monotonic()
    cached = _snapshots.get(deal_id)
    if cached is not None and cached[0] > now:
        snapshot = cached[1]
    else:
        row = FlashDeal.objects.filter(pk=deal_id).values(*_SNAPSHOT_FIELDS).first()
        snapshot = DealSnapshot(**row) if row else None
        if ttl > 0:
            with _snapshots_lock:
                _snapshots[deal_id] = (now + ttl, snapshot)
    if snapshot is None:
        raise DealNotFoundError()
    return snapshot


def deal_snapshot_cache_clear() -> None:
    with _snapshots_lock:
        _snapshots.clear()
        _sold_out_until.clear()


# Deals this process found sold out, keyed by deal and version, until when. The crowd that keeps
# pressing "grab" after the stock is gone is then answered without Redis or the database. It
# only ever refuses: a unit given back by a cancellation here is offered again at once, one
# given back in another process within FLASH_DEAL_CACHE_SECONDS, and an admin edit (a new
# version) as soon as this process has read the edited deal.
_sold_out_until: dict[tuple[int, int], float] = {}


def deal_sold_out_recently(*, deal: DealSnapshot) -> bool:
    until = _sold_out_until.get((deal.id, deal.gate.version))
    return until is not None and until > time.monotonic()


def deal_sold_out_remember(*, deal: DealSnapshot) -> None:
    ttl = settings.FLASH_DEAL_CACHE_SECONDS
    if ttl > 0:
        _sold_out_until[(deal.id, deal.gate.version)] = time.monotonic() + ttl


def deal_sold_out_forget(*, deal_id: int) -> None:
    with _snapshots_lock:
        for key in [key for key in _sold_out_until if key[0] == deal_id]:
            _sold_out_until.pop(key, None)


@dataclass(frozen=True)
class DealForMember:
    deal: FlashDeal
    my_count: int
    can_grab: bool
    reason: str | None
    reminded: bool


def deal_grab_refusal(
    *, deal: FlashDeal, now: datetime.datetime, my_count: int, phone: str | None, tag_ids: set
) -> str | None:
    """Why ``deal`` cannot be grabbed now by this member (an error code), or None."""
    if deal.is_paused:
        return "paused"
    if now < deal.starts_at:
        return "not_started"
    if now >= deal.ends_at:
        return "ended"
    if deal.requires_phone and not phone:
        return "phone_required"
    if deal.required_tag_id and deal.required_tag_id not in tag_ids:
        return "not_eligible"
    if my_count >= deal.per_member_limit:
        return "limit_reached"
    if deal.remaining_stock <= 0:
        return "sold_out"
    return None


def deal_list_for_member(*, member_id: int, now: datetime.datetime) -> list[DealForMember]:
    """Live and upcoming deals (not yet ended), soonest first, as this member sees them."""
    deals = list(FlashDeal.objects.filter(ends_at__gt=now).order_by("starts_at", "pk"))
    if not deals:
        return []
    deal_ids = [deal.pk for deal in deals]
    counts = dict(
        FlashOrder.objects.live()
        .filter(member_id=member_id, deal_id__in=deal_ids)
        .values_list("deal_id")
        .annotate(n=Count("id"))
    )
    reminded = set(
        DealReminder.objects.filter(member_id=member_id, deal_id__in=deal_ids).values_list(
            "deal_id", flat=True
        )
    )
    phone, tag_ids = None, set()
    if any(deal.requires_phone for deal in deals):
        phone = Member.objects.filter(pk=member_id).values_list("phone", flat=True).first()
    if any(deal.required_tag_id for deal in deals):
        tag_ids = set(
            Member.tags.through.objects.filter(member_id=member_id).values_list("tag_id", flat=True)
        )
    result = []
    for deal in deals:
        my_count = counts.get(deal.pk, 0)
        reason = deal_grab_refusal(
            deal=deal, now=now, my_count=my_count, phone=phone, tag_ids=tag_ids
        )
        result.append(
            DealForMember(
                deal=deal,
                my_count=my_count,
                can_grab=reason is None,
                reason=reason,
                reminded=deal.pk in reminded,
            )
        )
    return result


def flash_order_get_for_member(*, member_id: int, order_no: str) -> FlashOrder:
    """The member's own order with its deal and coupon; someone else's is not found."""
    order = (
        FlashOrder.objects.select_related("deal", "coupon", "coupon__campaign")
        .filter(order_no=order_no, member_id=member_id)
        .first()
    )
    if order is None:
        raise FlashOrderNotFoundError()
    return order


def deal_list_with_figures() -> QuerySet:
    """Every deal annotated with its orders by state, in one query (admin, dashboard)."""
    return FlashDeal.objects.annotate(
        held_count=Count("orders", filter=Q(orders__status=FlashOrderStatus.AWAITING_PAYMENT)),
        paid_count=Count("orders", filter=Q(orders__status=FlashOrderStatus.PAID)),
        cancelled_count=Count("orders", filter=Q(orders__status=FlashOrderStatus.CANCELLED)),
        refunded_count=Count("orders", filter=Q(orders__status=FlashOrderStatus.REFUNDED)),
    )
