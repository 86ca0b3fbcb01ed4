"""Writers for the member's reported location (with consent), used by "near store" tags."""

import datetime

from members.exceptions import MemberNotFoundError
from members.models import Member

# 3 decimals of a degree: about 110 m of latitude, enough for "within 3 km of a store" and no
# finer than a member would expect to be kept.
LOCATION_DECIMALS = 3


def member_location_record(
    *, member_id: int, lat: float, lng: float, now: datetime.datetime
) -> tuple[float, float]:
    """Store the member's position rounded to about 100 m, with their consent.

    Preconditions: the member agreed to share their location (the mini-program asks first).
    Returns the rounded ``(lat, lng)``. Raises ``MemberNotFoundError`` for an unknown or
    inactive member. One ``UPDATE``.
    """
    lat, lng = round(lat, LOCATION_DECIMALS), round(lng, LOCATION_DECIMALS)
    updated = Member.objects.filter(pk=member_id, is_active=True).update(
        last_lat=lat, last_lng=lng, location_updated_at=now, location_consent=True
    )
    if not updated:
        raise MemberNotFoundError()
    return lat, lng


def member_location_clear(*, member_id: int) -> None:
    """Withdraw the consent and forget the position; "near store" tags drop at the next run."""
    Member.objects.filter(pk=member_id).update(
        last_lat=None, last_lng=None, location_updated_at=None, location_consent=False
    )
