"""Races: real threads against a real database, counting rows afterwards.

Each runs on PostgreSQL twice: the database alone, and behind the Redis gate. The embedded
SQLite test database lives in memory in shared-cache mode, whose table locks fail at once
instead of waiting ("database table is locked"), so threads cannot share it; the same rules
are proven one call at a time there by test_deal_services.py.
"""

import datetime
import itertools
import threading
from collections import Counter

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from coupons.models import Coupon, FlashDeal, FlashOrder, FlashOrderStatus
from coupons.services import flash_deals as flash_deal_services
from members.models import Member
from tests.coupons.deal_fixtures import redis_flush_gates
from tests.factories import FlashDealFactory, MemberFactory
from tests.markers import requires_postgresql, requires_redis

pytestmark = [
    requires_postgresql,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("fresh_deals"),
]


@pytest.fixture(params=["database", "gate"])
def gate_mode(request, settings):
    """Every race twice: the database alone, and behind the Redis gate (when Redis is set)."""
    if request.param == "gate":
        if not settings.REDIS_URL:
            pytest.skip("needs Redis (set REDIS_URL)")
    else:
        settings.REDIS_URL = ""
    return request.param


_member_numbers = itertools.count()


def _members(count):
    numbers = [next(_member_numbers) for _ in range(count)]
    return Member.objects.bulk_create(
        Member(member_no=f"7{n:011d}", openid=f"race-openid-{n}") for n in numbers
    )


def _in_threads(work, items, threads):
    """Run ``work(item)`` for every item on ``threads`` threads started together."""
    chunks = [items[i::threads] for i in range(threads)]
    results, errors = [], []
    barrier = threading.Barrier(len(chunks))
    lock = threading.Lock()

    def run(chunk):
        try:
            barrier.wait()
            for item in chunk:
                outcome = work(item)
                with lock:
                    results.append(outcome)
        except Exception as error:  # surfaced by the assertion below
            errors.append(error)
        finally:
            connection.close()

    pool = [threading.Thread(target=run, args=(chunk,)) for chunk in chunks if chunk]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    assert errors == []
    return results


def _grab_over_http(deal):
    def grab(member):
        client = APIClient()
        token = str(RefreshToken.for_user(member).access_token)
        response = client.post(f"/api/deals/{deal.pk}/grab", HTTP_AUTHORIZATION=f"Bearer {token}")
        return response.status_code, response.json().get("code")

    return grab


def _remaining(deal):
    return FlashDeal.objects.values_list("remaining_stock", flat=True).get(pk=deal.pk)


def test_crowd_grabbing_never_oversells(fake_pay, gate_mode):
    # given
    members, stock = 500, 50
    deal = FlashDealFactory(total_stock=stock)
    crowd = _members(members)
    # when
    results = _in_threads(_grab_over_http(deal), crowd, threads=16)
    # then
    assert Counter(results) == {(201, None): stock, (409, "sold_out"): members - stock}
    assert FlashOrder.objects.filter(deal=deal, status="awaiting_payment").count() == stock
    assert _remaining(deal) == 0
    assert len(fake_pay.created) == stock


def test_one_member_firing_ten_grabs_gets_one_order(fake_pay, gate_mode):
    deal = FlashDealFactory(total_stock=50)
    member = MemberFactory()
    results = _in_threads(_grab_over_http(deal), [member] * 10, threads=10)
    assert Counter(results) == {(201, None): 1, (409, "limit_reached"): 9}
    assert FlashOrder.objects.filter(deal=deal).count() == 1
    assert _remaining(deal) == 49


@requires_redis
def test_redis_flushed_mid_sale_still_sells_exactly_the_stock(fake_pay, settings):
    # given
    members, stock = 300, 40
    deal = FlashDealFactory(total_stock=stock)
    crowd = _members(members)
    grab = _grab_over_http(deal)
    flushed = threading.Event()

    def grab_and_flush(member):
        outcome = grab(member)
        if (
            outcome[0] == 201
            and not flushed.is_set()
            and FlashOrder.objects.filter(deal=deal).count() >= stock // 2
        ):
            flushed.set()
            redis_flush_gates()
        return outcome

    # when
    results = _in_threads(grab_and_flush, crowd, threads=12)
    # then
    assert flushed.is_set()
    assert Counter(results) == {(201, None): stock, (409, "sold_out"): members - stock}
    assert FlashOrder.objects.filter(deal=deal).count() == stock
    assert _remaining(deal) == 0


def _held_orders(deal, count):
    """``count`` unpaid orders, their payment window already over."""
    created = timezone.now() - datetime.timedelta(minutes=10)
    orders = []
    for member in _members(count):
        orders.append(
            flash_deal_services.deal_grab(
                member_id=member.pk, deal_id=deal.pk, client_ip="10.0.0.1", now=created
            )
        )
    # The eager countdown tasks of these grabs ran at once and cancelled them: hold them again.
    FlashOrder.objects.filter(deal=deal).update(
        status=FlashOrderStatus.AWAITING_PAYMENT, cancelled_at=None
    )
    FlashDeal.objects.filter(pk=deal.pk).update(remaining_stock=deal.total_stock - count)
    redis_flush_gates()
    return orders


def _assert_stock_counted_once(deal):
    live = FlashOrder.objects.filter(deal=deal).live().count()
    assert _remaining(deal) == deal.total_stock - live


def test_sweeper_and_countdown_racing_return_stock_once(fake_pay, gate_mode):
    # given
    deal = FlashDealFactory(total_stock=30, starts_at=timezone.now() - datetime.timedelta(hours=1))
    orders = _held_orders(deal, 20)
    assert _remaining(deal) == 10
    now = timezone.now()

    def settle(job):
        kind, order_id = job
        if kind == "sweep":
            return flash_deal_services.flash_order_sweep(now=now)
        return flash_deal_services.flash_order_expire(order_id=order_id, now=now)

    jobs = [("task", order.pk) for order in orders] * 2 + [("sweep", None)] * 3
    # when
    _in_threads(settle, jobs, threads=8)
    # then
    assert FlashOrder.objects.filter(deal=deal, status=FlashOrderStatus.CANCELLED).count() == 20
    assert _remaining(deal) == 30


def test_expiry_and_late_payment_racing_count_stock_once(fake_pay, gate_mode):
    # given 20 overdue orders and only 5 more units, 15 of which the crowd may take meanwhile
    deal = FlashDealFactory(total_stock=25, starts_at=timezone.now() - datetime.timedelta(hours=1))
    orders = _held_orders(deal, 20)
    late_crowd = _members(30)
    now = timezone.now()
    grab = _grab_over_http(deal)

    def act(job):
        kind, item = job
        if kind == "expire":
            return flash_deal_services.flash_order_expire(order_id=item.pk, now=now)
        if kind == "pay":
            return flash_deal_services.flash_order_payment_record(
                order_no=item.order_no, transaction_id=f"tx-{item.pk}", total_fee=1, now=now
            ).status
        return grab(item)

    jobs = (
        [("expire", order) for order in orders]
        + [("pay", order) for order in orders]
        + [("grab", member) for member in late_crowd]
    )
    # when
    _in_threads(act, jobs, threads=10)
    # then: every paid order has its coupon, every unit is counted once
    _assert_stock_counted_once(deal)
    paid_orders = FlashOrder.objects.filter(pk__in=[o.pk for o in orders])
    assert not paid_orders.filter(status=FlashOrderStatus.AWAITING_PAYMENT).exists()
    assert not paid_orders.filter(status=FlashOrderStatus.CANCELLED).exists()
    assert Coupon.objects.count() == FlashOrder.objects.filter(status="paid").count()
    assert FlashOrder.objects.filter(deal=deal).live().count() <= 25
    for order in paid_orders.filter(status=FlashOrderStatus.REFUNDED):
        assert order.refund.refund_fee == 1


def test_replayed_payment_racing_itself_issues_one_coupon(fake_pay):
    deal = FlashDealFactory()
    order = flash_deal_services.deal_grab(
        member_id=MemberFactory().pk, deal_id=deal.pk, client_ip="10.0.0.1"
    )

    def pay(_):
        return flash_deal_services.flash_order_payment_record(
            order_no=order.order_no, transaction_id="4200000001", total_fee=1
        ).status

    results = _in_threads(pay, list(range(10)), threads=10)
    assert set(results) == {FlashOrderStatus.PAID}
    assert Coupon.objects.count() == 1
