"""Reads for tags: which members a tag rule selects."""

import datetime
import math

from django.db.models import Exists, F, FloatField, OuterRef, QuerySet, Value
from django.db.models.functions import Cos, Power, Radians, Sin

from coupons.models import Redemption
from members.models import Member, TagRule, TagRuleKind

EARTH_RADIUS_M = 6_371_000.0
_METRES_PER_DEGREE_LAT = 111_320.0


def _live_redemptions():
    return Redemption.objects.filter(coupon__member=OuterRef("pk"), voided_at__isnull=True)


def members_near(*, lat: float, lng: float, radius_m: float) -> QuerySet[Member]:
    """Members whose last reported location (given with consent) is within ``radius_m``.

    A bounding box on the two columns narrows the rows first; the haversine test then keeps
    those inside the circle. Compared as the haversine's ``a`` term, so that no arcsine or
    square root is taken per row.
    """
    dlat = radius_m / _METRES_PER_DEGREE_LAT
    dlng = radius_m / (_METRES_PER_DEGREE_LAT * max(math.cos(math.radians(lat)), 0.01))
    phi = math.radians(lat)
    lam = math.radians(lng)

    def const(value):
        return Value(value, output_field=FloatField())

    haversine_a = Power(Sin((Radians(F("last_lat")) - const(phi)) / const(2.0)), 2) + const(
        math.cos(phi)
    ) * Cos(Radians(F("last_lat"))) * Power(Sin((Radians(F("last_lng")) - const(lam)) / 2), 2)
    a_max = math.sin(radius_m / (2 * EARTH_RADIUS_M)) ** 2
    return (
        Member.objects.filter(
            location_consent=True,
            last_lat__range=(lat - dlat, lat + dlat),
            last_lng__range=(lng - dlng, lng + dlng),
        )
        .alias(haversine_a=haversine_a)
        .filter(haversine_a__lte=a_max)
    )


def tag_rule_members(*, rule: TagRule, now: datetime.datetime) -> QuerySet[Member]:
    """The active members that ``rule`` selects at ``now``, as one query (no rows loaded)."""
    members = Member.objects.active()
    days = datetime.timedelta(days=rule.days or 0)
    if rule.kind == TagRuleKind.NEW_MEMBER:
        return members.filter(joined_at__gt=now - days)
    if rule.kind == TagRuleKind.BOUGHT_AT_STORE:
        redemptions = _live_redemptions().filter(store_id=rule.store_id)
        if rule.days:
            redemptions = redemptions.filter(redeemed_at__gt=now - days)
        return members.filter(Exists(redemptions))
    if rule.kind == TagRuleKind.DORMANT:
        # A member who joined within the window has had no chance to be dormant yet.
        recent = _live_redemptions().filter(redeemed_at__gt=now - days)
        return members.filter(joined_at__lte=now - days).exclude(Exists(recent))
    if rule.kind == TagRuleKind.NEAR_STORE:
        store = rule.store
        near = members_near(lat=store.latitude, lng=store.longitude, radius_m=rule.radius_m)
        if rule.days:
            near = near.filter(location_updated_at__gt=now - days)
        return members.filter(pk__in=near.values("pk"))
    raise ValueError(f"unknown tag rule kind {rule.kind!r}")
