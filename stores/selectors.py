"""Reads about stores and staff."""

import functools
import math
from dataclasses import dataclass

from django.db import connection

from stores.models import StaffProfile, StaffRole, Store

# The mean Earth radius (IUGG), the usual choice for great-circle distances.
EARTH_RADIUS_M = 6_371_008.8
NEARBY_RADIUS_DEFAULT_M = 3_000
NEARBY_RADIUS_MAX_M = 50_000
# A shopper's list shows the nearest few; beyond this the map view is the better tool.
NEARBY_RESULT_LIMIT = 50

# About one centimetre: keeps stores sitting exactly on the circle inside the box despite
# floating-point rounding in the box and the distance formulas.
_BOX_MARGIN_DEGREES = 1e-7

NEARBY_FIELDS = (
    "code",
    "name",
    "address",
    "city",
    "latitude",
    "longitude",
    "opening_hours",
    "phone",
)


def distance_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle distance in metres (haversine formula, spherical Earth)."""
    phi1 = math.radians(lat1)
    phi2 = math.radians(lat2)
    half_dphi = (phi2 - phi1) / 2
    half_dlambda = math.radians(lng2 - lng1) / 2
    a = math.sin(half_dphi) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(half_dlambda) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


@dataclass(frozen=True)
class BoundingBox:
    """Latitude range and one or two longitude ranges (two when the box crosses ±180°).

    ``longitude_ranges`` is empty when every longitude is inside (the circle reaches a pole).
    """

    latitude_min: float
    latitude_max: float
    longitude_ranges: tuple[tuple[float, float], ...]


def bounding_box(*, lat: float, lng: float, radius_m: float) -> BoundingBox:
    """The smallest latitude/longitude box that holds the circle around (lat, lng).

    The longitude half-width is asin(sin(r) / cos(lat)), the exact width of a spherical cap
    (wider than r / cos(lat) only by a hair, and never too narrow near the poles).
    """
    angular_radius = radius_m / EARTH_RADIUS_M
    delta_lat = math.degrees(angular_radius) + _BOX_MARGIN_DEGREES
    latitude_min = lat - delta_lat
    latitude_max = lat + delta_lat
    if latitude_min <= -90 or latitude_max >= 90:
        return BoundingBox(max(latitude_min, -90.0), min(latitude_max, 90.0), ())

    ratio = math.sin(angular_radius) / math.cos(math.radians(lat))
    if ratio >= 1:
        return BoundingBox(latitude_min, latitude_max, ())
    delta_lng = math.degrees(math.asin(ratio)) + _BOX_MARGIN_DEGREES
    if delta_lng >= 180:
        return BoundingBox(latitude_min, latitude_max, ())

    longitude_min = lng - delta_lng
    longitude_max = lng + delta_lng
    if longitude_min < -180:
        ranges = ((longitude_min + 360, 180.0), (-180.0, longitude_max))
    elif longitude_max > 180:
        ranges = ((longitude_min, 180.0), (-180.0, longitude_max - 360))
    else:
        ranges = ((longitude_min, longitude_max),)
    return BoundingBox(latitude_min, latitude_max, ranges)


@functools.cache
def _nearby_sql_parts() -> tuple[str, str]:
    """``SELECT … WHERE active AND latitude in range AND`` and the longitude range condition."""
    table = connection.ops.quote_name(Store._meta.db_table)

    def column(name):
        return f"{table}.{connection.ops.quote_name(Store._meta.get_field(name).column)}"

    select = ", ".join(column(name) for name in NEARBY_FIELDS)
    # Only quoted names from the model's metadata go into the text; values are parameters.
    head = (
        f"SELECT {select} FROM {table} WHERE {column('is_active')} "  # noqa: S608
        f"AND {column('latitude')} >= %s AND {column('latitude')} <= %s"
    )
    longitude_range = f"({column('longitude')} >= %s AND {column('longitude')} <= %s)"
    return head, longitude_range


def _nearby_sql(box: BoundingBox) -> tuple[str, list[float]]:
    head, longitude_range = _nearby_sql_parts()
    params = [box.latitude_min, box.latitude_max]
    if not box.longitude_ranges:
        return head, params
    conditions = []
    for low, high in box.longitude_ranges:
        conditions.append(longitude_range)
        params += [low, high]
    return f"{head} AND ({' OR '.join(conditions)})", params


def store_list_nearby(
    *, lat: float, lng: float, radius_m: float, limit: int = NEARBY_RESULT_LIMIT
) -> list[dict]:
    """Active stores within ``radius_m`` metres of (lat, lng), nearest first.

    Each is a dict of ``NEARBY_FIELDS`` plus ``distance_m`` (whole metres). Ties on distance
    are broken by store code, so the order is stable. At most ``limit`` stores.

    The database narrows the search to an indexed latitude/longitude box around the circle;
    the exact distance is then computed here for the few rows left. The query is written out
    once (``_nearby_sql``) because on this public hot path building and compiling a queryset
    cost more than the query itself.
    """
    box = bounding_box(lat=lat, lng=lng, radius_m=radius_m)
    sql, params = _nearby_sql(box)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()

    found = []
    for row in rows:
        distance = distance_m(lat, lng, row[4], row[5])
        if distance <= radius_m:
            found.append((distance, row))
    found.sort(key=lambda item: (item[0], item[1][0]))

    results = []
    for distance, row in found[:limit]:
        store = dict(zip(NEARBY_FIELDS, row, strict=True))
        store["distance_m"] = round(distance)
        results.append(store)
    return results


@dataclass(frozen=True)
class StaffMember:
    id: int
    username: str
    full_name: str
    role: str
    store: Store | None


def staff_get(*, user_id: int) -> StaffMember | None:
    """The active staff user with their profile and store, or None."""
    profile = (
        StaffProfile.objects.select_related("user", "store")
        .filter(user_id=user_id, user__is_active=True)
        .first()
    )
    if profile is None:
        return None
    user = profile.user
    return StaffMember(
        id=user.pk,
        username=user.get_username(),
        full_name=user.get_full_name(),
        role=profile.role,
        store=profile.store,
    )


def staff_store_id_for_scoping(user) -> int | None:
    """The store a Django admin user is confined to, or None when not confined.

    Store managers see only their own store's rows; superusers, marketers and staff without
    a profile are not confined by store (their model permissions decide what they see).
    """
    if not getattr(user, "is_authenticated", False) or user.is_superuser:
        return None
    cached = getattr(user, "_store_scope_cache", None)
    if cached is not None:
        return cached[0]
    store_id = (
        StaffProfile.objects.filter(user_id=user.pk, role=StaffRole.STORE_MANAGER)
        .values_list("store_id", flat=True)
        .first()
    )
    user._store_scope_cache = (store_id,)
    return store_id
