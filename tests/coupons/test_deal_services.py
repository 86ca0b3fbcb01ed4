import datetime

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from backend.exceptions import WeChatUnavailableError
from coupons.exceptions import (
    DealEndedError,
    DealLimitReachedError,
    DealNotEligibleError,
    DealNotFoundError,
    DealNotStartedError,
    DealPausedError,
    DealPhoneRequiredError,
    DealSoldOutError,
    PaymentMismatchError,
)
from coupons.models import (
    Coupon,
    CouponSource,
    DealReminder,
    FlashDeal,
    FlashOrder,
    FlashOrderStatus,
    FlashRefund,
    FlashRefundStatus,
)
from coupons.selectors import flash_deals as flash_deal_selectors
from coupons.selectors.flash_deals import deal_list_for_member, deal_snapshot_get
from coupons.services import flash_deals as flash_deal_services
from coupons.services.flash_deal_gate import gate_remaining
from tests.coupons.deal_fixtures import redis_flush_gates
from tests.factories import FlashDealFactory, MemberFactory, TagFactory
from tests.markers import requires_redis

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_deals", "committed")]

_on_commit = {}


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Service calls below run what they defer to after commit, as a real commit would."""
    _on_commit["capture"] = django_capture_on_commit_callbacks
    yield
    _on_commit.clear()


def _committing(function, **kwargs):
    with _on_commit["capture"](execute=True):
        return function(**kwargs)


def _grab(deal, member, now=None):
    return _committing(
        flash_deal_services.deal_grab,
        member_id=member.pk,
        deal_id=deal.pk,
        client_ip="10.0.0.8",
        now=now,
    )


def _cancel(order, now=None):
    return _committing(
        flash_deal_services.flash_order_cancel, order=order, now=now or timezone.now()
    )


def _expire(order, now=None):
    return _committing(
        flash_deal_services.flash_order_expire, order_id=order.pk, now=now or _overdue(order)
    )


def _remaining(deal):
    return FlashDeal.objects.values_list("remaining_stock", flat=True).get(pk=deal.pk)


def _overdue(order):
    return order.expires_at + datetime.timedelta(seconds=1)


# --- Grab ----------------------------------------------------------------------------------------


def test_grab_holds_one_unit_and_opens_a_wechat_pay_order(fake_pay, settings):
    # given
    deal = FlashDealFactory(total_stock=10)
    member = MemberFactory()
    # when
    order = _grab(deal, member)
    # then
    assert order.status == FlashOrderStatus.AWAITING_PAYMENT
    assert _remaining(deal) == 9
    assert order.pay_params["package"].startswith("prepay_id=")
    assert len(order.order_no) <= 32
    assert order.expires_at == order.created_at + datetime.timedelta(minutes=5)
    (call,) = fake_pay.created
    assert call["out_trade_no"] == order.order_no
    assert call["total_fee"] == 1
    assert call["openid"] == member.openid
    assert call["client_ip"] == "10.0.0.8"
    assert call["notify_url"] == settings.WECHAT_PAY_NOTIFY_URL
    assert call["expires_at"] == order.expires_at


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"is_paused": True}, DealPausedError),
        ({"starts_at_in": datetime.timedelta(minutes=5)}, DealNotStartedError),
        ({"ends_at_in": -datetime.timedelta(minutes=5)}, DealEndedError),
    ],
)
def test_grab_refuses_a_deal_that_is_not_on(fake_pay, changes, error):
    # given
    now = timezone.now()
    fields = {"is_paused": changes.get("is_paused", False)}
    if "starts_at_in" in changes:
        fields["starts_at"] = now + changes["starts_at_in"]
    if "ends_at_in" in changes:
        fields["starts_at"] = now - datetime.timedelta(hours=1)
        fields["ends_at"] = now + changes["ends_at_in"]
    deal = FlashDealFactory(**fields)
    # when / then
    with pytest.raises(error):
        _grab(deal, MemberFactory(), now=now)
    assert FlashOrder.objects.count() == 0
    assert _remaining(deal) == deal.total_stock


def test_grab_of_an_unknown_deal_is_not_found(fake_pay):
    with pytest.raises(DealNotFoundError):
        flash_deal_services.deal_grab(
            member_id=MemberFactory().pk, deal_id=999999, client_ip="1.1.1.1"
        )


def test_grab_never_sells_more_than_stock(fake_pay):
    # given
    deal = FlashDealFactory(total_stock=2)
    members = MemberFactory.create_batch(3)
    # when
    _grab(deal, members[0])
    _grab(deal, members[1])
    # then
    with pytest.raises(DealSoldOutError):
        _grab(deal, members[2])
    assert FlashOrder.objects.filter(deal=deal).count() == 2
    assert _remaining(deal) == 0


def test_grab_twice_at_limit_one_is_refused(fake_pay):
    deal = FlashDealFactory()
    member = MemberFactory()
    _grab(deal, member)
    with pytest.raises(DealLimitReachedError):
        _grab(deal, member)
    assert FlashOrder.objects.filter(member=member).count() == 1
    assert _remaining(deal) == deal.total_stock - 1


def test_grab_up_to_a_limit_of_two(fake_pay):
    deal = FlashDealFactory(per_member_limit=2)
    member = MemberFactory()
    first, second = _grab(deal, member), _grab(deal, member)
    with pytest.raises(DealLimitReachedError):
        _grab(deal, member)
    assert {first.slot, second.slot} == {1, 2}


def test_a_cancelled_order_frees_the_members_limit(fake_pay):
    deal = FlashDealFactory()
    member = MemberFactory()
    order = _grab(deal, member)
    _cancel(order)
    again = _grab(deal, member)
    assert again.status == FlashOrderStatus.AWAITING_PAYMENT


def test_grab_requires_a_bound_phone_when_the_deal_says_so(fake_pay):
    deal = FlashDealFactory(requires_phone=True)
    with pytest.raises(DealPhoneRequiredError):
        _grab(deal, MemberFactory(phone=None))
    order = _grab(deal, MemberFactory(phone="13800138000"))
    assert order.status == FlashOrderStatus.AWAITING_PAYMENT


def test_grab_requires_the_deals_tag(fake_pay):
    tag = TagFactory(slug="vip")
    deal = FlashDealFactory(required_tag=tag)
    with pytest.raises(DealNotEligibleError):
        _grab(deal, MemberFactory())
    tagged = MemberFactory()
    tagged.tags.add(tag)
    assert _grab(deal, tagged).status == FlashOrderStatus.AWAITING_PAYMENT


def test_free_deal_is_paid_at_once_with_its_coupon(fake_pay):
    # given
    deal = FlashDealFactory(price_fen=0, requires_phone=True)
    member = MemberFactory(phone="13800138001")
    # when
    order = _grab(deal, member)
    # then
    order.refresh_from_db()
    assert order.status == FlashOrderStatus.PAID
    assert order.paid_at is not None
    coupon = Coupon.objects.get(member=member)
    assert order.coupon == coupon
    assert coupon.source == CouponSource.DEAL
    assert coupon.campaign_id == deal.campaign_id
    assert fake_pay.created == []
    assert _remaining(deal) == deal.total_stock - 1


def test_grab_gives_the_unit_back_when_wechat_pay_is_down(fake_pay):
    # given
    deal = FlashDealFactory(total_stock=1)
    member = MemberFactory()
    fake_pay.fail_create = True
    # when
    with pytest.raises(WeChatUnavailableError):
        _grab(deal, member)
    # then
    order = FlashOrder.objects.get(member=member)
    assert order.status == FlashOrderStatus.CANCELLED
    assert _remaining(deal) == 1
    # and the member can try again once WeChat is back
    fake_pay.fail_create = False
    assert _grab(deal, member).status == FlashOrderStatus.AWAITING_PAYMENT


@pytest.fixture
def scheduled_expiries(monkeypatch):
    """The expiry batches grabs ask Celery for, as (deal id, due by, eta), instead of sending."""
    from coupons import tasks as deal_tasks

    scheduled = []
    monkeypatch.setattr(
        deal_tasks.flash_orders_expire_due_task,
        "apply_async",
        lambda args, eta: scheduled.append(
            (args[0], datetime.datetime.fromisoformat(args[1]), eta)
        ),
    )
    return scheduled


def test_expiry_is_scheduled_only_after_commit(
    fake_pay, scheduled_expiries, settings, django_capture_on_commit_callbacks
):
    # given
    settings.FLASH_ORDER_EXPIRY_BATCH_SECONDS = 5
    deal = FlashDealFactory()
    # when
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        order = flash_deal_services.deal_grab(
            member_id=MemberFactory().pk, deal_id=deal.pk, client_ip="10.0.0.8"
        )
    # then: nothing before the commit; then one task, due by the end of the order's batch
    assert scheduled_expiries == []
    for callback in callbacks:
        callback()
    [(deal_id, due_by, eta)] = scheduled_expiries
    assert deal_id == deal.pk
    assert order.expires_at <= due_by < order.expires_at + datetime.timedelta(seconds=5)
    assert due_by.timestamp() % 5 == 0
    assert eta == due_by + datetime.timedelta(seconds=1)


def test_one_expiry_task_per_deal_and_batch(fake_pay, scheduled_expiries, settings):
    # given
    settings.FLASH_ORDER_EXPIRY_BATCH_SECONDS = 5
    deal, other_deal = FlashDealFactory(), FlashDealFactory()
    seconds = timezone.now().timestamp()
    start = datetime.datetime.fromtimestamp(seconds - seconds % 5, tz=datetime.UTC)
    # when: three grabs in the same five seconds, one in the next batch, one of another deal
    for offset in (0.5, 2, 4.5, 5.5):
        _grab(deal, MemberFactory(), now=start + datetime.timedelta(seconds=offset))
    _grab(other_deal, MemberFactory(), now=start)
    # then
    window = deal.payment_window
    assert [(deal_id, due_by) for deal_id, due_by, _eta in scheduled_expiries] == [
        (deal.pk, start + window + datetime.timedelta(seconds=5)),
        (deal.pk, start + window + datetime.timedelta(seconds=10)),
        (other_deal.pk, start + window),
    ]


def test_expiry_batch_settles_only_its_deals_due_orders(fake_pay, scheduled_expiries):
    # given: two overdue orders of the deal, one due later, one overdue of another deal
    # (their countdown tasks held back)
    now = timezone.now()
    opened = now - datetime.timedelta(hours=1)
    deal = FlashDealFactory(total_stock=5, starts_at=opened)
    other_deal = FlashDealFactory(total_stock=5, starts_at=opened)
    long_ago = now - datetime.timedelta(minutes=10)
    due = [_grab(deal, MemberFactory(), now=long_ago) for _ in range(2)]
    later = _grab(deal, MemberFactory(), now=now - datetime.timedelta(minutes=4))
    elsewhere = _grab(other_deal, MemberFactory(), now=long_ago)
    # when: the batch that ends now runs
    outcomes = flash_deal_services.flash_orders_expire_due(
        deal_id=deal.pk, due_by=now + datetime.timedelta(seconds=5), now=now
    )
    # then
    assert outcomes == {"cancelled": 2}
    statuses = dict(FlashOrder.objects.values_list("pk", "status"))
    assert [statuses[order.pk] for order in due] == [FlashOrderStatus.CANCELLED] * 2
    assert statuses[later.pk] == FlashOrderStatus.AWAITING_PAYMENT
    assert statuses[elsewhere.pk] == FlashOrderStatus.AWAITING_PAYMENT
    assert _remaining(deal) == 4


def test_grab_reads_the_deal_once_per_cache_period(fake_pay, settings, django_assert_num_queries):
    # given
    settings.FLASH_DEAL_CACHE_SECONDS = 60
    deal = FlashDealFactory(is_paused=True)
    with pytest.raises(DealPausedError):
        _grab(deal, MemberFactory())
    # when / then: refused from the cached deal without a query
    member = MemberFactory()
    with django_assert_num_queries(0), pytest.raises(DealPausedError):
        _grab(deal, member)
    assert deal_snapshot_get(deal_id=deal.pk).is_paused


def _gate_must_not_be_asked(**kwargs):
    pytest.fail("the Redis gate was asked")


class _Clock:
    """Stands in for the ``time`` module where a test moves ``time.monotonic()`` by hand."""

    def __init__(self):
        self.now = 1000.0

    def monotonic(self):
        return self.now


def test_sold_out_is_answered_from_memory_until_the_cache_period_ends(
    fake_pay, settings, django_assert_num_queries, monkeypatch
):
    # given: a deal this process has seen sell out
    settings.FLASH_DEAL_CACHE_SECONDS = 60
    clock = _Clock()
    monkeypatch.setattr(flash_deal_selectors, "time", clock)
    deal = FlashDealFactory(total_stock=1, remaining_stock=1)
    _grab(deal, MemberFactory())
    with pytest.raises(DealSoldOutError):
        _grab(deal, MemberFactory())
    # when / then: the crowd after it is refused without a query, nor asking the Redis gate
    member = MemberFactory()
    with monkeypatch.context() as patched:
        patched.setattr(flash_deal_services, "gate_take", _gate_must_not_be_asked)
        with django_assert_num_queries(0), pytest.raises(DealSoldOutError):
            _grab(deal, member)
    # and once the period has passed the database is asked again
    FlashDeal.objects.filter(pk=deal.pk).update(remaining_stock=1)
    if settings.REDIS_URL:
        redis_flush_gates()  # the gate is rebuilt from the row changed by hand
    clock.now += 61
    _grab(deal, member)
    assert _remaining(deal) == 0


def test_a_unit_given_back_here_is_offered_again_at_once(fake_pay, settings):
    # given: sold out, and remembered as such
    settings.FLASH_DEAL_CACHE_SECONDS = 60
    deal = FlashDealFactory(total_stock=1, remaining_stock=1)
    order = _grab(deal, MemberFactory())
    with pytest.raises(DealSoldOutError):
        _grab(deal, MemberFactory())
    # when: this process cancels the order and gives the unit back
    assert _cancel(order) is True
    # then: the next member gets it without waiting for the memory to lapse
    again = _grab(deal, MemberFactory())
    assert again.status == FlashOrderStatus.AWAITING_PAYMENT
    assert _remaining(deal) == 0


# --- Cancel, expire, sweep -----------------------------------------------------------------------


def test_cancel_gives_the_unit_back_exactly_once(fake_pay):
    deal = FlashDealFactory(total_stock=5)
    order = _grab(deal, MemberFactory())
    now = timezone.now()
    assert _cancel(order, now) is True
    assert _cancel(order, now) is False
    assert _remaining(deal) == 5


def test_expire_before_the_window_ends_does_nothing(fake_pay):
    order = _grab(FlashDealFactory(), MemberFactory())
    outcome = flash_deal_services.flash_order_expire(
        order_id=order.pk, now=order.expires_at - datetime.timedelta(seconds=1)
    )
    assert outcome == "not_due"
    order.refresh_from_db()
    assert order.status == FlashOrderStatus.AWAITING_PAYMENT


def test_expire_cancels_closes_and_returns_stock(fake_pay):
    deal = FlashDealFactory(total_stock=3)
    order = _grab(deal, MemberFactory())
    outcome = _expire(order)
    assert outcome == "cancelled"
    order.refresh_from_db()
    assert order.status == FlashOrderStatus.CANCELLED
    assert fake_pay.closed == [order.order_no]
    assert _remaining(deal) == 3
    # and again: nothing more
    assert _expire(order) == "settled"
    assert _remaining(deal) == 3


def test_expire_records_a_payment_whose_callback_was_lost(fake_pay):
    deal = FlashDealFactory(total_stock=3)
    order = _grab(deal, MemberFactory())
    fake_pay.trade_states[order.order_no] = "SUCCESS"
    outcome = _expire(order)
    assert outcome == "paid"
    order.refresh_from_db()
    assert order.status == FlashOrderStatus.PAID
    assert order.coupon is not None
    assert order.transaction_id == f"tx-{order.order_no}"
    assert _remaining(deal) == 2
    assert fake_pay.closed == []


def test_expire_waits_while_the_member_is_paying(fake_pay):
    order = _grab(FlashDealFactory(), MemberFactory())
    fake_pay.trade_states[order.order_no] = "USERPAYING"
    assert _expire(order) == "paying"
    order.refresh_from_db()
    assert order.status == FlashOrderStatus.AWAITING_PAYMENT


def test_expire_changes_nothing_while_wechat_cannot_be_asked(fake_pay):
    deal = FlashDealFactory(total_stock=3)
    order = _grab(deal, MemberFactory())
    fake_pay.fail_query = True
    assert _expire(order) == "unknown"
    order.refresh_from_db()
    assert order.status == FlashOrderStatus.AWAITING_PAYMENT
    assert _remaining(deal) == 2


def test_sweep_cancels_overdue_orders_only(fake_pay, scheduled_expiries):
    now = timezone.now()
    deal = FlashDealFactory(total_stock=5, starts_at=now - datetime.timedelta(hours=1))
    # (the countdown tasks are lost: scheduled_expiries keeps them from running)
    old = flash_deal_services.deal_grab(
        member_id=MemberFactory().pk,
        deal_id=deal.pk,
        client_ip="10.0.0.8",
        now=now - datetime.timedelta(minutes=10),
    )
    fresh = _grab(deal, MemberFactory(), now=now)
    outcomes = flash_deal_services.flash_order_sweep(now=now)
    assert outcomes == {"cancelled": 1}
    old.refresh_from_db()
    fresh.refresh_from_db()
    assert old.status == FlashOrderStatus.CANCELLED
    assert fresh.status == FlashOrderStatus.AWAITING_PAYMENT
    assert _remaining(deal) == 4


# --- Payment -------------------------------------------------------------------------------------


def _pay(order, total_fee=1, transaction_id="4200000001"):
    return _committing(
        flash_deal_services.flash_order_payment_record,
        order_no=order.order_no,
        transaction_id=transaction_id,
        total_fee=total_fee,
    )


def test_payment_marks_the_order_paid_and_issues_the_voucher(fake_pay):
    deal = FlashDealFactory()
    member = MemberFactory()
    order = _grab(deal, member)
    paid = _pay(order)
    paid.refresh_from_db()
    assert paid.status == FlashOrderStatus.PAID
    assert paid.transaction_id == "4200000001"
    coupon = Coupon.objects.get(member=member)
    assert paid.coupon == coupon
    assert coupon.source == CouponSource.DEAL


def test_replayed_payment_issues_one_coupon(fake_pay):
    order = _grab(FlashDealFactory(), MemberFactory())
    _pay(order)
    _pay(order)
    assert Coupon.objects.count() == 1


@pytest.mark.parametrize("case", ["wrong_amount", "unknown_order"])
def test_mismatched_payment_changes_nothing(fake_pay, case):
    order = _grab(FlashDealFactory(), MemberFactory())
    with pytest.raises(PaymentMismatchError):
        if case == "wrong_amount":
            _pay(order, total_fee=100)
        else:
            flash_deal_services.flash_order_payment_record(
                order_no="FDNOSUCHORDER", transaction_id="x", total_fee=1
            )
    order.refresh_from_db()
    assert order.status == FlashOrderStatus.AWAITING_PAYMENT
    assert Coupon.objects.count() == 0


def test_late_payment_is_honoured_while_stock_remains(fake_pay):
    deal = FlashDealFactory(total_stock=2)
    order = _grab(deal, MemberFactory())
    _expire(order)
    assert _remaining(deal) == 2
    paid = _pay(order)
    assert paid.status == FlashOrderStatus.PAID
    assert _remaining(deal) == 1
    assert Coupon.objects.count() == 1
    assert FlashRefund.objects.count() == 0


def test_late_payment_is_refunded_when_sold_out(fake_pay):
    # given an order cancelled and its unit sold to someone else
    deal = FlashDealFactory(total_stock=1)
    order = _grab(deal, MemberFactory())
    _expire(order)
    _grab(deal, MemberFactory())
    # when the late payment arrives
    refunded = _pay(order)
    # then
    assert refunded.status == FlashOrderStatus.REFUNDED
    refund = FlashRefund.objects.get(order=order)
    assert refund.status == FlashRefundStatus.SUCCEEDED
    assert fake_pay.refunds == [
        {
            "out_trade_no": order.order_no,
            "out_refund_no": refund.out_refund_no,
            "total_fee": 1,
            "refund_fee": 1,
        }
    ]
    assert _remaining(deal) == 0
    assert Coupon.objects.count() == 0
    # and a replay changes nothing
    _pay(order)
    assert FlashRefund.objects.count() == 1
    assert len(fake_pay.refunds) == 1


def test_late_payment_is_refunded_when_the_member_grabbed_again(fake_pay):
    deal = FlashDealFactory(total_stock=5)
    member = MemberFactory()
    order = _grab(deal, member)
    _expire(order)
    _grab(deal, member)
    assert _pay(order).status == FlashOrderStatus.REFUNDED
    assert _remaining(deal) == 4


def test_failed_refund_is_kept_and_resent_by_the_sweep(fake_pay):
    deal = FlashDealFactory(total_stock=1)
    order = _grab(deal, MemberFactory())
    _expire(order)
    _grab(deal, MemberFactory())
    fake_pay.fail_refund = True
    _pay(order)
    refund = FlashRefund.objects.get(order=order)
    assert refund.status == FlashRefundStatus.PENDING
    assert refund.attempts == 1
    fake_pay.fail_refund = False
    flash_deal_services.flash_order_sweep()
    refund.refresh_from_db()
    assert refund.status == FlashRefundStatus.SUCCEEDED
    assert len(fake_pay.refunds) == 1


# --- Reminders, deals, list ----------------------------------------------------------------------


def test_remind_is_idempotent(fake_pay):
    deal = FlashDealFactory(starts_at=timezone.now() + datetime.timedelta(hours=1))
    member = MemberFactory()
    _, created = flash_deal_services.deal_remind(member_id=member.pk, deal_id=deal.pk)
    _, again = flash_deal_services.deal_remind(member_id=member.pk, deal_id=deal.pk)
    assert (created, again) == (True, False)
    assert DealReminder.objects.count() == 1


def test_remind_refuses_an_ended_deal():
    now = timezone.now()
    deal = FlashDealFactory(starts_at=now - datetime.timedelta(hours=2), ends_at=now)
    with pytest.raises(DealEndedError):
        flash_deal_services.deal_remind(member_id=MemberFactory().pk, deal_id=deal.pk)


def test_deal_create_and_stock_change_keep_what_is_sold(fake_pay):
    deal = FlashDealFactory(total_stock=5)
    deal = flash_deal_services.deal_create(
        campaign=deal.campaign,
        total_stock=5,
        title="Created",
        starts_at=timezone.now() - datetime.timedelta(minutes=1),
        ends_at=timezone.now() + datetime.timedelta(hours=1),
    )
    assert deal.remaining_stock == 5
    _grab(deal, MemberFactory())
    _grab(deal, MemberFactory())
    updated = flash_deal_services.deal_update(deal=deal, data={"total_stock": 10})
    assert updated.remaining_stock == 8
    with pytest.raises(ValidationError):
        flash_deal_services.deal_update(deal=deal, data={"total_stock": 1})


def test_deal_list_says_why_a_member_cannot_grab(fake_pay):
    now = timezone.now()
    tag = TagFactory(slug="gold")
    live = FlashDealFactory(title="live")
    upcoming = FlashDealFactory(title="upcoming", starts_at=now + datetime.timedelta(hours=1))
    FlashDealFactory(title="over", starts_at=now - datetime.timedelta(hours=2), ends_at=now)
    taken = FlashDealFactory(title="taken")
    sold_out = FlashDealFactory(title="sold out", total_stock=1)
    phone = FlashDealFactory(title="phone", requires_phone=True)
    tagged = FlashDealFactory(title="tagged", required_tag=tag)
    member = MemberFactory()
    _grab(taken, member)
    _grab(sold_out, MemberFactory())
    rows = {row.deal.title: row for row in deal_list_for_member(member_id=member.pk, now=now)}
    assert set(rows) == {"live", "upcoming", "taken", "sold out", "phone", "tagged"}
    assert (rows["live"].can_grab, rows["live"].reason) == (True, None)
    assert rows["upcoming"].reason == "not_started"
    assert (rows["taken"].reason, rows["taken"].my_count) == ("limit_reached", 1)
    assert rows["sold out"].reason == "sold_out"
    assert rows["phone"].reason == "phone_required"
    assert rows["tagged"].reason == "not_eligible"
    assert upcoming.pk and live.pk and phone.pk and tagged.pk


# --- Redis gate ----------------------------------------------------------------------------------


@requires_redis
def test_gate_answers_sold_out_and_over_limit_without_a_query(
    fake_pay, settings, django_assert_num_queries
):
    # given a deal sold out through the gate, its row cached
    settings.FLASH_DEAL_CACHE_SECONDS = 60
    deal = FlashDealFactory(total_stock=1)
    buyer = MemberFactory()
    _grab(deal, buyer)
    late = MemberFactory()
    # when / then
    with django_assert_num_queries(0):
        with pytest.raises(DealLimitReachedError):
            _grab(deal, buyer)
        with pytest.raises(DealSoldOutError):
            _grab(deal, late)


@requires_redis
def test_gate_rebuilds_from_the_database_after_a_flush(fake_pay):
    # given
    deal = FlashDealFactory(total_stock=3)
    buyer = MemberFactory()
    _grab(deal, buyer)
    redis_flush_gates()
    # when
    with pytest.raises(DealLimitReachedError):
        _grab(deal, buyer)
    # then the gate knows both the stock and the member again
    assert gate_remaining(deal=deal_snapshot_get(deal_id=deal.pk).gate) == 2
    _grab(deal, MemberFactory())
    _grab(deal, MemberFactory())
    with pytest.raises(DealSoldOutError):
        _grab(deal, MemberFactory())


@requires_redis
def test_gate_corrects_itself_when_the_database_has_less(fake_pay):
    # given a gate that believes in more stock than the database has
    deal = FlashDealFactory(total_stock=2)
    _grab(deal, MemberFactory())
    FlashDeal.objects.filter(pk=deal.pk).update(remaining_stock=0)
    gate = deal_snapshot_get(deal_id=deal.pk).gate
    assert gate_remaining(deal=gate) == 1
    # when the database refuses what the gate let through
    with pytest.raises(DealSoldOutError):
        _grab(deal, MemberFactory())
    # then the gate keeps the unit taken and refuses on its own from now on
    assert gate_remaining(deal=gate) == 0


def test_grab_without_the_gate_is_settled_by_the_database(fake_pay, settings):
    settings.REDIS_URL = ""
    deal = FlashDealFactory(total_stock=1)
    _grab(deal, MemberFactory())
    with pytest.raises(DealSoldOutError):
        _grab(deal, MemberFactory())
    assert FlashOrder.objects.filter(deal=deal).count() == 1


def test_demo_deals_are_seeded_once():
    import io

    from coupons import demo

    demo.seed(io.StringIO())
    demo.seed(io.StringIO())
    deals = {deal.title: deal for deal in FlashDeal.objects.all()}
    assert len(deals) == 3
    live = deals[demo.LIVE_TITLE]
    assert (live.price_fen, live.total_stock, live.remaining_stock) == (1, 100, 100)
    assert live.campaign.claimable_online is False
    assert live.campaign.all_stores is True
    assert deals[demo.UPCOMING_TITLE].starts_at > timezone.now()
    free = deals[demo.FREE_TITLE]
    assert (free.price_fen, free.requires_phone) == (0, True)
