"""Figures for the admin dashboard: reads across coupons, flash deals and notifications.

Every function takes a range of business days (Asia/Shanghai), both ends included, and
answers plain data for the charts. ``store_id`` confines the store-bound figures to one store
(a store manager's view); claims count for a store when the campaign is accepted there.
Flash deals and notifications belong to the whole chain and have no store scope.
"""

import datetime
from dataclasses import dataclass

from django.db.models import Count, Max, Q, Sum
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from coupons.models import (
    FLASH_ORDER_LIVE_STATUSES,
    Campaign,
    Coupon,
    FlashDeal,
    FlashOrder,
    FlashOrderStatus,
    Redemption,
)
from members.models import Notification, NotificationState


@dataclass(frozen=True)
class DayCouponFigures:
    date: datetime.date
    claimed: int
    redeemed: int


@dataclass(frozen=True)
class StoreRedemptionFigures:
    store_id: int
    code: str
    name: str
    count: int
    discount_fen: int


@dataclass(frozen=True)
class CouponTotals:
    claimed: int
    redeemed: int
    voided: int
    discount_fen: int

    @property
    def redemption_rate(self) -> float | None:
        return self.redeemed / self.claimed if self.claimed else None


def business_days(*, start: datetime.date, end: datetime.date) -> list[datetime.date]:
    return [start + datetime.timedelta(days=n) for n in range((end - start).days + 1)]


def business_range(
    *, start: datetime.date, end: datetime.date
) -> tuple[datetime.datetime, datetime.datetime]:
    """From the first day's midnight to the midnight after the last day, business time."""
    zone = timezone.get_default_timezone()
    return (
        datetime.datetime.combine(start, datetime.time.min, tzinfo=zone),
        datetime.datetime.combine(end + datetime.timedelta(days=1), datetime.time.min, tzinfo=zone),
    )


def _per_day(queryset, field: str) -> dict[datetime.date, int]:
    rows = (
        queryset.annotate(day=TruncDate(field, tzinfo=timezone.get_default_timezone()))
        .values("day")
        .annotate(n=Count("pk"))
        .values_list("day", "n")
    )
    return dict(rows)


def _coupons_in_scope(store_id: int | None):
    coupons = Coupon.objects.all()
    if store_id is not None:
        campaigns = Campaign.objects.filter(Q(all_stores=True) | Q(stores=store_id)).values("pk")
        coupons = coupons.filter(campaign_id__in=campaigns)
    return coupons


def _redemptions_in_scope(store_id: int | None):
    redemptions = Redemption.objects.all()
    if store_id is not None:
        redemptions = redemptions.filter(store_id=store_id)
    return redemptions


def coupon_figures_per_day(
    *, start: datetime.date, end: datetime.date, store_id: int | None = None
) -> list[DayCouponFigures]:
    """Coupons claimed and redeemed (not voided) on each day of the range, zeros included."""
    low, high = business_range(start=start, end=end)
    claimed = _per_day(
        _coupons_in_scope(store_id).filter(claimed_at__gte=low, claimed_at__lt=high), "claimed_at"
    )
    redeemed = _per_day(
        _redemptions_in_scope(store_id).filter(
            redeemed_at__gte=low, redeemed_at__lt=high, voided_at__isnull=True
        ),
        "redeemed_at",
    )
    return [
        DayCouponFigures(date=day, claimed=claimed.get(day, 0), redeemed=redeemed.get(day, 0))
        for day in business_days(start=start, end=end)
    ]


def coupon_totals(
    *, start: datetime.date, end: datetime.date, store_id: int | None = None
) -> CouponTotals:
    low, high = business_range(start=start, end=end)
    claimed = _coupons_in_scope(store_id).filter(claimed_at__gte=low, claimed_at__lt=high).count()
    live = Q(voided_at__isnull=True)
    figures = (
        _redemptions_in_scope(store_id)
        .filter(redeemed_at__gte=low, redeemed_at__lt=high)
        .aggregate(
            redeemed=Count("pk", filter=live),
            voided=Count("pk", filter=~live),
            discount_fen=Coalesce(Sum("discount_fen", filter=live), 0),
        )
    )
    return CouponTotals(claimed=claimed, **figures)


def redemptions_per_store(
    *, start: datetime.date, end: datetime.date, store_id: int | None = None
) -> list[StoreRedemptionFigures]:
    """Live redemptions and their discount per store, most redemptions first."""
    low, high = business_range(start=start, end=end)
    rows = (
        _redemptions_in_scope(store_id)
        .filter(redeemed_at__gte=low, redeemed_at__lt=high, voided_at__isnull=True)
        .values("store_id", "store__code", "store__name")
        .annotate(count=Count("pk"), discount_fen=Sum("discount_fen"))
        .order_by("-count", "store__code")
    )
    return [
        StoreRedemptionFigures(
            store_id=row["store_id"],
            code=row["store__code"],
            name=row["store__name"],
            count=row["count"],
            discount_fen=row["discount_fen"],
        )
        for row in rows
    ]


# --- flash deals ---------------------------------------------------------------------------


@dataclass(frozen=True)
class DealSellout:
    deal_id: int
    title: str
    starts_at: datetime.datetime
    total_stock: int
    sold: int
    # From the start to the grab that took the last unit; None while any stock is left.
    sold_out_after: datetime.timedelta | None


def flash_orders_by_status(*, start: datetime.date, end: datetime.date) -> dict[str, int]:
    """Orders placed in the range per status, every status present (zeros included)."""
    low, high = business_range(start=start, end=end)
    counts = dict(
        FlashOrder.objects.filter(created_at__gte=low, created_at__lt=high)
        .values("status")
        .annotate(n=Count("pk"))
        .values_list("status", "n")
    )
    return {status: counts.get(status, 0) for status in FlashOrderStatus.values}


def deal_sellout_times(*, start: datetime.date, end: datetime.date) -> list[DealSellout]:
    """Deals that started in the range, in start order, with how long each took to sell out.

    A deal is sold out when no stock remains; the moment is its last live (awaiting payment
    or paid) order, since stock given back by a cancelled order and grabbed again moves it.
    """
    low, high = business_range(start=start, end=end)
    deals = (
        FlashDeal.objects.filter(starts_at__gte=low, starts_at__lt=high)
        .annotate(
            last_live_order_at=Max(
                "orders__created_at", filter=Q(orders__status__in=FLASH_ORDER_LIVE_STATUSES)
            )
        )
        .order_by("starts_at", "pk")
    )
    return [
        DealSellout(
            deal_id=deal.pk,
            title=deal.title,
            starts_at=deal.starts_at,
            total_stock=deal.total_stock,
            sold=deal.total_stock - deal.remaining_stock,
            sold_out_after=max(deal.last_live_order_at - deal.starts_at, datetime.timedelta(0))
            if deal.remaining_stock == 0 and deal.last_live_order_at is not None
            else None,
        )
        for deal in deals
    ]


# --- notifications -------------------------------------------------------------------------


@dataclass(frozen=True)
class DayNotificationFigures:
    date: datetime.date
    sent: int
    skipped: int
    failed: int


_SKIPPED = (NotificationState.SKIPPED_NO_GRANT, NotificationState.SKIPPED_USER_REFUSED)


def notifications_per_day(
    *, start: datetime.date, end: datetime.date
) -> list[DayNotificationFigures]:
    """Notifications created on each day: sent, skipped (no grant left or refused), failed."""
    low, high = business_range(start=start, end=end)
    rows = (
        Notification.objects.filter(created_at__gte=low, created_at__lt=high)
        .annotate(day=TruncDate("created_at", tzinfo=timezone.get_default_timezone()))
        .values("day")
        .annotate(
            sent=Count("pk", filter=Q(state=NotificationState.SENT)),
            skipped=Count("pk", filter=Q(state__in=_SKIPPED)),
            failed=Count("pk", filter=Q(state=NotificationState.FAILED)),
        )
    )
    by_day = {row["day"]: row for row in rows}
    empty = {"sent": 0, "skipped": 0, "failed": 0}
    return [
        DayNotificationFigures(
            date=day,
            sent=by_day.get(day, empty)["sent"],
            skipped=by_day.get(day, empty)["skipped"],
            failed=by_day.get(day, empty)["failed"],
        )
        for day in business_days(start=start, end=end)
    ]
