"""Writers for coupons: every state change of campaigns, coupons and redemptions."""

import datetime

from django.utils import timezone

from coupons.models import Campaign, Coupon, CouponSource
from members.models import Member


def coupon_validity(
    *, campaign: Campaign, now: datetime.datetime
) -> tuple[datetime.datetime, datetime.datetime]:
    """When a coupon of ``campaign`` claimed at ``now`` is usable: ``(valid_from, valid_until)``.

    ``valid_days`` runs from the claim to the end of that business day (Asia/Shanghai), so a
    coupon claimed at 21:00 with ``valid_days=7`` is usable until midnight seven days later.
    """
    if campaign.valid_days is not None:
        last_day = timezone.localdate(now) + datetime.timedelta(days=campaign.valid_days)
        end = datetime.datetime.combine(last_day + datetime.timedelta(days=1), datetime.time.min)
        return now, timezone.make_aware(end)
    return campaign.valid_from, campaign.valid_until


def coupon_issue(
    *,
    member: Member,
    campaign: Campaign,
    source: CouponSource,
    now: datetime.datetime | None = None,
) -> Coupon:
    """Create one coupon of ``campaign`` for ``member``.

    Preconditions: the caller has already taken the stock (the campaign's for a claim, the
    deal's for a purchase) and runs inside its transaction. Writes nothing but the coupon.
    """
    now = now or timezone.now()
    valid_from, valid_until = coupon_validity(campaign=campaign, now=now)
    return Coupon.objects.create(
        campaign=campaign,
        member=member,
        source=source,
        valid_from=valid_from,
        valid_until=valid_until,
    )
