"""Concurrency on a real PostgreSQL: many threads at once, then count what was written."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from backend.exceptions import ApplicationError
from coupons.models import Campaign, Coupon, CouponStatus, MemberCampaignClaims, Redemption
from coupons.services.coupons import coupon_claim, redemption_create, redemption_void
from tests.coupons.conftest import code_for, pos_client_for, staff_of
from tests.factories import (
    CampaignFactory,
    CouponFactory,
    MemberFactory,
    StaffProfileFactory,
    StoreFactory,
)
from tests.markers import requires_postgresql

pytestmark = [requires_postgresql, pytest.mark.django_db(transaction=True)]


def _all_at_once(calls, *, workers=None):
    """Run each zero-argument callable in a thread; the first ``workers`` start together.

    Returns each call's result, or the ``ApplicationError`` it raised, in order.
    """
    start = threading.Event()

    def run(call):
        try:
            start.wait(timeout=10)
            return call()
        except ApplicationError as error:
            return error
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=workers or len(calls)) as pool:
        futures = [pool.submit(run, call) for call in calls]
        start.set()
        return [future.result() for future in futures]


def _codes(results):
    return sorted(r.code if isinstance(r, ApplicationError) else "ok" for r in results)


def test_claims_never_exceed_stock():
    campaign = CampaignFactory(total_stock=50)
    members = [MemberFactory() for _ in range(200)]

    results = _all_at_once(
        [lambda m=m: coupon_claim(member_id=m.pk, campaign_id=campaign.pk) for m in members],
        workers=32,
    )

    campaign.refresh_from_db()
    assert Coupon.objects.filter(campaign=campaign).count() == 50
    assert campaign.remaining_stock == 0
    assert _codes(results).count("ok") == 50
    assert set(_codes(results)) == {"ok", "sold_out"}
    # Members refused for stock keep no claim on their counter.
    assert MemberCampaignClaims.objects.filter(campaign=campaign, claimed=1).count() == 50


def test_one_member_never_exceeds_the_limit():
    campaign = CampaignFactory(total_stock=100, per_member_limit=2)
    member = MemberFactory()

    results = _all_at_once(
        [lambda: coupon_claim(member_id=member.pk, campaign_id=campaign.pk)] * 20
    )

    campaign.refresh_from_db()
    assert Coupon.objects.filter(member=member).count() == 2
    assert campaign.remaining_stock == 98
    assert _codes(results) == ["limit_reached"] * 18 + ["ok"] * 2


def test_two_tills_scanning_one_code_redeem_it_once():
    store = StoreFactory()
    tills = [staff_of(StaffProfileFactory(store=store)) for _ in range(2)]
    coupon = CouponFactory()
    code = code_for(coupon)

    results = _all_at_once(
        [
            lambda staff=staff, n=n: redemption_create(
                staff=staff,
                code=code,
                order_amount_fen=6000,
                receipt_no=f"R{n}",
                idempotency_key=f"till-{n}",
            )
            for n, staff in enumerate(tills)
        ]
    )

    assert Redemption.objects.filter(coupon=coupon).count() == 1
    assert _codes(results) == ["already_redeemed", "ok"]


def test_ten_requests_with_one_idempotency_key_get_one_redemption_and_one_answer():
    cashier = StaffProfileFactory()
    coupon = CouponFactory()
    code = code_for(coupon)

    def post():
        return pos_client_for(cashier).post(
            "/api/pos/redemptions",
            {"code": code, "order_amount_fen": 6000, "receipt_no": "R1"},
            format="json",
            HTTP_IDEMPOTENCY_KEY="same-key",
        )

    responses = _all_at_once([post] * 10)

    assert Redemption.objects.filter(coupon=coupon).count() == 1
    assert [r.status_code for r in responses] == [201] * 10
    assert len({r.content for r in responses}) == 1


def test_void_racing_a_second_redemption_leaves_at_most_one_live():
    store = StoreFactory()
    first_till, second_till = (staff_of(StaffProfileFactory(store=store)) for _ in range(2))
    coupons = [CouponFactory() for _ in range(5)]
    redemptions = [
        redemption_create(
            staff=first_till,
            code=code_for(c),
            order_amount_fen=6000,
            receipt_no="R1",
            idempotency_key=f"first-{c.pk}",
        )[0]
        for c in coupons
    ]

    calls = []
    for coupon, redemption in zip(coupons, redemptions, strict=True):
        calls.append(
            lambda r=redemption: redemption_void(staff=first_till, redemption_id=r.pk, reason="")
        )
        calls.append(
            lambda c=coupon: redemption_create(
                staff=second_till,
                code=code_for(c),
                order_amount_fen=6000,
                receipt_no="R2",
                idempotency_key=f"second-{c.pk}",
            )
        )
    results = _all_at_once(calls)

    assert all(not isinstance(r, ApplicationError) for r in results[0::2])  # every void passed
    for coupon in coupons:
        coupon.refresh_from_db()
        live = Redemption.objects.filter(coupon=coupon, voided_at__isnull=True).count()
        assert live <= 1
        assert coupon.status == (CouponStatus.USED if live else CouponStatus.UNUSED)
    assert Campaign.objects.count() == 5
