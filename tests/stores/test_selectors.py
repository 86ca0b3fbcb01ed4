import math
import random

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from stores.models import Store
from stores.selectors import (
    NEARBY_RESULT_LIMIT,
    bounding_box,
    distance_m,
    staff_get,
    store_list_nearby,
)
from tests.factories import StoreFactory

SHENZHEN = (22.5431, 114.0579)


def _random_stores(rng, count, *, inactive_share=0.1):
    stores = []
    for number in range(count):
        stores.append(
            Store(
                code=f"R{number:05d}",
                name=f"Random {number}",
                address="somewhere",
                city="Shenzhen",
                # About ±55 km north-south and ±50 km east-west of the centre.
                latitude=SHENZHEN[0] + rng.uniform(-0.5, 0.5),
                longitude=SHENZHEN[1] + rng.uniform(-0.5, 0.5),
                is_active=rng.random() >= inactive_share,
            )
        )
    Store.objects.bulk_create(stores)


def _brute_force(lat, lng, radius_m):
    """Every active store's distance, by a formula written out independently."""
    earth = 6_371_008.8
    found = []
    for store in Store.objects.filter(is_active=True):
        phi1, phi2 = math.radians(lat), math.radians(store.latitude)
        dlambda = math.radians(store.longitude - lng)
        cos_angle = math.sin(phi1) * math.sin(phi2) + math.cos(phi1) * math.cos(phi2) * math.cos(
            dlambda
        )
        distance = earth * math.acos(max(-1.0, min(1.0, cos_angle)))
        if distance <= radius_m:
            found.append((distance, store.code))
    found.sort()
    return [(code, round(distance)) for distance, code in found]


@pytest.mark.django_db
def test_nearby_matches_brute_force_over_two_thousand_stores():
    # given 2,000 random stores around Shenzhen, a tenth of them closed
    rng = random.Random(20260101)
    _random_stores(rng, 2000)
    points = [
        (SHENZHEN[0] + rng.uniform(-0.4, 0.4), SHENZHEN[1] + rng.uniform(-0.4, 0.4))
        for _ in range(8)
    ]
    radii = [500, 3000, 7000, 20000, 50000]

    for lat, lng in points:
        for radius in radii:
            # when
            found = store_list_nearby(lat=lat, lng=lng, radius_m=radius, limit=10_000)
            # then the same stores, in the same order, with distances within a metre of the
            # spherical law of cosines (whose rounding differs from haversine's)
            expected = _brute_force(lat, lng, radius)
            assert [store["code"] for store in found] == [code for code, _ in expected], (
                lat,
                lng,
                radius,
            )
            for store, (_, distance) in zip(found, expected, strict=True):
                assert abs(store["distance_m"] - distance) <= 1


@pytest.mark.django_db
def test_nearby_distances_are_haversine_rounded_to_whole_metres():
    rng = random.Random(7)
    _random_stores(rng, 300, inactive_share=0)
    lat, lng = SHENZHEN

    found = store_list_nearby(lat=lat, lng=lng, radius_m=20000, limit=10_000)

    by_code = {store.code: store for store in Store.objects.all()}
    assert found
    for store in found:
        row = by_code[store["code"]]
        assert store["distance_m"] == round(distance_m(lat, lng, row.latitude, row.longitude))
        assert isinstance(store["distance_m"], int)
    assert [s["distance_m"] for s in found] == sorted(s["distance_m"] for s in found)


def test_distance_of_one_degree_of_latitude_is_the_mean_earth_radius_arc():
    assert distance_m(0, 0, 1, 0) == pytest.approx(math.pi / 180 * 6_371_008.8, abs=0.001)
    assert distance_m(22.5, 114.0, 22.5, 114.0) == 0


@pytest.mark.django_db
def test_nearby_excludes_closed_stores():
    StoreFactory(code="OPEN", latitude=22.5431, longitude=114.0579)
    StoreFactory(code="SHUT", latitude=22.5431, longitude=114.0579, is_active=False)

    found = store_list_nearby(lat=22.5431, lng=114.0579, radius_m=1000)

    assert [store["code"] for store in found] == ["OPEN"]


@pytest.mark.django_db
def test_nearby_breaks_distance_ties_by_code():
    for code in ("B", "C", "A"):
        StoreFactory(code=code, latitude=22.55, longitude=114.05)

    found = store_list_nearby(lat=22.54, lng=114.05, radius_m=3000)

    assert [store["code"] for store in found] == ["A", "B", "C"]
    assert len({store["distance_m"] for store in found}) == 1


@pytest.mark.django_db
def test_nearby_returns_at_most_the_limit_nearest():
    rng = random.Random(3)
    _random_stores(rng, 200, inactive_share=0)

    found = store_list_nearby(lat=SHENZHEN[0], lng=SHENZHEN[1], radius_m=50000)

    assert len(found) == NEARBY_RESULT_LIMIT
    everything = store_list_nearby(lat=SHENZHEN[0], lng=SHENZHEN[1], radius_m=50000, limit=10_000)
    assert found == everything[:NEARBY_RESULT_LIMIT]


@pytest.mark.django_db
def test_nearby_is_one_query_filtered_by_the_box():
    StoreFactory(code="NEAR", latitude=22.5431, longitude=114.0579)

    with CaptureQueriesContext(connection) as queries:
        store_list_nearby(lat=22.5431, lng=114.0579, radius_m=3000)

    assert len(queries) == 1
    sql = queries[0]["sql"]
    assert '"latitude" >=' in sql and '"longitude" <=' in sql


@pytest.mark.django_db
def test_nearby_finds_stores_across_the_antimeridian():
    StoreFactory(code="EAST", latitude=-17.0, longitude=179.99)
    StoreFactory(code="WEST", latitude=-17.0, longitude=-179.99)
    StoreFactory(code="FAR", latitude=-17.0, longitude=179.0)

    found = store_list_nearby(lat=-17.0, lng=-179.999, radius_m=5000)

    assert [store["code"] for store in found] == ["WEST", "EAST"]


@pytest.mark.django_db
def test_nearby_near_a_pole_searches_every_longitude():
    StoreFactory(code="P1", latitude=89.99, longitude=0)
    StoreFactory(code="P2", latitude=89.99, longitude=180)

    found = store_list_nearby(lat=89.995, lng=90, radius_m=3000)

    assert sorted(store["code"] for store in found) == ["P1", "P2"]


@pytest.mark.parametrize(
    ("lat", "lng", "radius_m"),
    [(22.5, 114.0, 3000), (60.0, 10.0, 50000), (-45.0, 179.9, 20000), (0.0, -180.0, 1000)],
)
def test_bounding_box_holds_every_point_of_the_circle(lat, lng, radius_m):
    box = bounding_box(lat=lat, lng=lng, radius_m=radius_m)
    angular = radius_m / 6_371_008.8
    phi, lam = math.radians(lat), math.radians(lng)
    for step in range(360):
        bearing = math.radians(step)
        # the point at radius_m on this bearing (spherical destination formula)
        phi2 = math.asin(
            math.sin(phi) * math.cos(angular)
            + math.cos(phi) * math.sin(angular) * math.cos(bearing)
        )
        lam2 = lam + math.atan2(
            math.sin(bearing) * math.sin(angular) * math.cos(phi),
            math.cos(angular) - math.sin(phi) * math.sin(phi2),
        )
        point_lat = math.degrees(phi2)
        point_lng = (math.degrees(lam2) + 540) % 360 - 180
        assert box.latitude_min <= point_lat <= box.latitude_max
        assert any(low <= point_lng <= high for low, high in box.longitude_ranges)


@pytest.mark.django_db
def test_staff_get_returns_role_and_store_of_an_active_user(cashier, store):
    staff = staff_get(user_id=cashier.pk)

    assert (staff.username, staff.role, staff.store) == ("cashier1", "cashier", store)


@pytest.mark.django_db
def test_staff_get_ignores_disabled_users(cashier):
    cashier.is_active = False
    cashier.save()

    assert staff_get(user_id=cashier.pk) is None
