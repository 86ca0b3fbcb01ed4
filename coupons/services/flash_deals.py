"""Writers for flash deals: grab, pay, cancel, refund, remind, and the deal itself.

How a unit of stock moves, and why it is never sold twice:

- grab: one transaction inserts the order (the partial unique constraint on live orders per
  member and slot enforces the per-member limit) and takes the unit with a conditional
  ``remaining_stock > 0`` update checked by row count. The Redis gate in front
  (coupons.services.flash_deal_gate) only sheds load; when the database refuses what the gate
  let through, the gate is corrected.
- cancel: the conditional transition ``awaiting_payment → cancelled``, checked by row count,
  is what gives the unit back; whoever wins it (the countdown task, the sweep, a failed
  payment creation) returns the stock, everyone else does nothing.
- pay: the order row is locked, so a payment and a cancellation of the same order run one
  after the other; a payment for an order already cancelled takes a unit again (honoured) or,
  when none is left, is refunded. Nothing is lost: the refund is a row written with the
  decision and sent to WeChat after commit until WeChat accepts it.

Statement order matters on PostgreSQL: every transaction here touches the order row(s) before
the deal row, so no two of them can wait on each other in a cycle.
"""

import datetime
import functools
import logging
import math
import secrets
import threading
import time

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from backend import wechat
from backend.exceptions import ApplicationError, WeChatPayOrderPaidError, WeChatUnavailableError
from coupons.exceptions import (
    DealEndedError,
    DealLimitReachedError,
    DealNotEligibleError,
    DealNotStartedError,
    DealPausedError,
    DealPhoneRequiredError,
    DealSoldOutError,
    PaymentMismatchError,
)
from coupons.models import (
    Campaign,
    CouponSource,
    DealReminder,
    FlashDeal,
    FlashOrder,
    FlashOrderStatus,
    FlashRefund,
    FlashRefundStatus,
)
from coupons.selectors.flash_deals import (
    DealSnapshot,
    deal_snapshot_get,
    deal_sold_out_forget,
    deal_sold_out_recently,
    deal_sold_out_remember,
)
from coupons.services.coupons import coupon_issue
from coupons.services.flash_deal_gate import (
    GateAnswer,
    gate_consume,
    gate_give_back,
    gate_take,
)
from members.models import Member, NotificationEvent
from members.services.notifications import notification_enqueue

logger = logging.getLogger(__name__)

# WeChat Pay's trade states that mean the member's money has been taken.
_PAID_TRADE_STATES = {"SUCCESS"}
# Still in the member's hands: cancelling now could race their payment; look again later.
_PAYING_TRADE_STATES = {"USERPAYING"}


# --- Deals (admin) -------------------------------------------------------------------------------


def deal_create(*, campaign: Campaign, total_stock: int, **fields) -> FlashDeal:
    """Create a deal with all of its stock remaining. ``fields`` are FlashDeal's other fields."""
    deal = FlashDeal(
        campaign=campaign, total_stock=total_stock, remaining_stock=total_stock, **fields
    )
    deal.full_clean()
    deal.save()
    return deal


def deal_update(*, deal: FlashDeal, data: dict) -> FlashDeal:
    """Change a deal's fields. A new ``total_stock`` moves ``remaining_stock`` by the same amount.

    Locks the deal row, so grabs wait for the change; refuses a total below what is already
    held or sold. Saving gives the deal a new ``updated_at`` and with it a fresh Redis gate.
    """
    data = {key: value for key, value in data.items() if key != "remaining_stock"}
    with transaction.atomic():
        locked = FlashDeal.objects.select_for_update().get(pk=deal.pk)
        if "total_stock" in data:
            sold = locked.total_stock - locked.remaining_stock
            if data["total_stock"] < sold:
                raise ValidationError(
                    {
                        "total_stock": _(
                            "%(sold)d are already held or sold; the stock cannot be lower."
                        )
                        % {"sold": sold}
                    }
                )
            locked.remaining_stock = data["total_stock"] - sold
        for key, value in data.items():
            setattr(locked, key, value)
        locked.full_clean()
        locked.save()
    return locked


# --- Grab ----------------------------------------------------------------------------------------


def _order_no_new(now: datetime.datetime) -> str:
    """A unique ``out_trade_no`` (WeChat allows 32 characters): time, then 48 random bits."""
    return f"FD{timezone.localtime(now):%y%m%d%H%M%S}{secrets.token_hex(6).upper()}"


def _deal_requirements_check(*, deal: DealSnapshot, member_id: int) -> None:
    if deal.requires_phone:
        phone = Member.objects.filter(pk=member_id).values_list("phone", flat=True).first()
        if not phone:
            raise DealPhoneRequiredError()
    if deal.required_tag_id is not None:
        has_tag = Member.tags.through.objects.filter(
            member_id=member_id, tag_id=deal.required_tag_id
        ).exists()
        if not has_tag:
            raise DealNotEligibleError()


def _free_slot(*, deal: DealSnapshot, member_id: int) -> int:
    if deal.per_member_limit == 1:
        return 1
    taken = set(
        FlashOrder.objects.live()
        .filter(deal_id=deal.id, member_id=member_id)
        .values_list("slot", flat=True)
    )
    for slot in range(1, deal.per_member_limit + 1):
        if slot not in taken:
            return slot
    raise DealLimitReachedError()


def _order_insert(
    *, deal: DealSnapshot, member_id: int, now: datetime.datetime
) -> tuple[FlashOrder, str]:
    """The order and its unit of stock, in one transaction; raises sold out or limit reached.

    Returns the order and the member's openid (the unified order needs it).
    """
    for _attempt in range(deal.per_member_limit):
        slot = _free_slot(deal=deal, member_id=member_id)
        try:
            if deal.price_fen == 0:
                return _free_order_insert(deal=deal, member_id=member_id, slot=slot, now=now), ""
            return _order_place(deal=deal, member_id=member_id, slot=slot, now=now)
        except IntegrityError:
            # Another grab of this member took the slot first; with a limit above one, look
            # for the next free slot.
            continue
    raise DealLimitReachedError()


def _order_new(
    *, deal: DealSnapshot, member_id: int, slot: int, now: datetime.datetime, status: str
) -> FlashOrder:
    """An unsaved order of ``deal`` at its price, its payment window starting ``now``."""
    return FlashOrder(
        order_no=_order_no_new(now),
        deal_id=deal.id,
        member_id=member_id,
        slot=slot,
        status=status,
        price_fen=deal.price_fen,
        created_at=now,
        expires_at=now + deal.payment_window,
    )


@functools.cache
def _order_place_sql() -> tuple[str, str]:
    # Only table names from the models are put into the text; every value is a parameter.
    order, member, deal = FlashOrder._meta, Member._meta, FlashDeal._meta
    insert = (
        f"INSERT INTO {order.db_table} (order_no, deal_id, member_id, slot, status, price_fen, "  # noqa: S608
        "created_at, expires_at, transaction_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, '') "
        f"RETURNING id, (SELECT openid FROM {member.db_table} WHERE id = %s)"
    )
    take = (
        f"UPDATE {deal.db_table} SET remaining_stock = remaining_stock - 1 "  # noqa: S608
        "WHERE id = %s AND remaining_stock > 0"
    )
    return insert, take


def _order_place(
    *, deal: DealSnapshot, member_id: int, slot: int, now: datetime.datetime
) -> tuple[FlashOrder, str]:
    """The hot path of a paid grab: the order row, then its unit, as two plain statements.

    The same transaction as the ORM would run (order first, then the deal row, like every
    other writer here), without the ORM's per-statement cost; the member's openid comes back
    with the insert. Raises DealSoldOutError (nothing kept) or IntegrityError (slot taken).
    """
    order = _order_new(
        deal=deal, member_id=member_id, slot=slot, now=now, status=FlashOrderStatus.AWAITING_PAYMENT
    )
    insert, take = _order_place_sql()
    adapt = connection.ops.adapt_datetimefield_value
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            insert,
            [
                order.order_no,
                deal.id,
                member_id,
                slot,
                order.status,
                order.price_fen,
                adapt(order.created_at),
                adapt(order.expires_at),
                member_id,
            ],
        )
        order.pk, openid = cursor.fetchone()
        cursor.execute(take, [deal.id])
        if cursor.rowcount != 1:
            raise DealSoldOutError()
        _expiry_schedule(deal_id=deal.id, expires_at=order.expires_at)
    order._state.adding = False
    return order, openid or ""


def _free_order_insert(
    *, deal: DealSnapshot, member_id: int, slot: int, now: datetime.datetime
) -> FlashOrder:
    """A free deal's order, paid at once with its coupon issued, in one transaction."""
    with transaction.atomic():
        order = _order_new(
            deal=deal, member_id=member_id, slot=slot, now=now, status=FlashOrderStatus.PAID
        )
        order.paid_at = now
        order.coupon = coupon_issue(
            member=Member.objects.get(pk=member_id),
            campaign=Campaign.objects.get(pk=deal.campaign_id),
            source=CouponSource.DEAL,
            now=now,
        )
        order.save(force_insert=True)
        taken = FlashDeal.objects.filter(pk=deal.id, remaining_stock__gt=0).update(
            remaining_stock=F("remaining_stock") - 1
        )
        if not taken:
            raise DealSoldOutError()
    return order


# The expiry batches this process has already asked Celery for: (deal id, due by) → due by.
# One task per deal and few seconds settles every order due in that batch, instead of one
# message per grab; the sweep settles whatever a lost message leaves.
_expiry_batches: dict[tuple[int, float], float] = {}
_expiry_batches_lock = threading.Lock()


def _expiry_schedule(*, deal_id: int, expires_at: datetime.datetime) -> None:
    """After commit, make sure a countdown task settles the orders due by the end of the batch.

    Orders are settled at most ``FLASH_ORDER_EXPIRY_BATCH_SECONDS`` (plus a second) after
    their payment window closes.
    """
    step = max(settings.FLASH_ORDER_EXPIRY_BATCH_SECONDS, 0.001)
    due_by = math.ceil(expires_at.timestamp() / step) * step
    key = (deal_id, due_by)
    if key in _expiry_batches:
        return
    transaction.on_commit(lambda: _expiry_publish(key=key))


def _expiry_publish(*, key: tuple[int, float]) -> None:
    from coupons.tasks import flash_orders_expire_due_task

    deal_id, due_by = key
    with _expiry_batches_lock:
        if key in _expiry_batches:
            return
        due = datetime.datetime.fromtimestamp(due_by, tz=datetime.UTC)
        try:
            flash_orders_expire_due_task.apply_async(
                args=[deal_id, due.isoformat()], eta=due + datetime.timedelta(seconds=1)
            )
        except Exception:
            # The order is committed; the periodic sweep cancels it if it stays unpaid.
            logger.warning("could not schedule expiry of deal %s orders", deal_id, exc_info=True)
            return
        horizon = time.time()
        for old in [old for old, until in _expiry_batches.items() if until < horizon]:
            del _expiry_batches[old]
        _expiry_batches[key] = due_by


def expiry_batches_forget() -> None:
    """Forget which expiry batches were scheduled (tests start each from nothing)."""
    with _expiry_batches_lock:
        _expiry_batches.clear()


def deal_grab_precheck(*, deal_id: int, now: datetime.datetime) -> DealSnapshot:
    """The refusals that do not depend on who asks, from this process's memory: paused, not
    started, ended, and sold out as last seen here. Raises them; returns the cached deal.

    Costs no query while the deal is cached, so the API can ask it before reading the token.
    """
    deal = deal_snapshot_get(deal_id=deal_id)
    if deal.is_paused:
        raise DealPausedError()
    if now < deal.starts_at:
        raise DealNotStartedError()
    if now >= deal.ends_at:
        raise DealEndedError()
    if deal_sold_out_recently(deal=deal):
        raise DealSoldOutError()
    return deal


def deal_grab(
    *,
    member_id: int,
    deal_id: int,
    client_ip: str,
    now: datetime.datetime | None = None,
) -> FlashOrder:
    """Hold one unit of a deal for a member and open its WeChat Pay order.

    Refuses, cheapest first: paused, not started, ended (from the per-process cached deal),
    phone required / not eligible (one query, only for deals with requirements), WeChat Pay
    unavailable (its circuit breaker is open, paid deals only: no unit is taken), then sold out
    and limit reached (the Redis gate, or the database when there is no gate).

    Side effects: the order row and one unit of stock; after commit, a countdown task that
    settles the orders due in the same few seconds (asked for once per process and batch,
    _expiry_schedule) and a WeChat Pay unified order. When WeChat
    cannot create it, the order is cancelled (the unit goes back) and WeChatUnavailableError
    (503) is raised. A free deal (price 0) is paid at once and its coupon issued in the same
    transaction.

    Returns the order; ``order.pay_params`` (not stored) holds what ``wx.requestPayment``
    needs, or None for a free deal.
    """
    now = now or timezone.now()
    deal = deal_grab_precheck(deal_id=deal_id, now=now)
    if deal.requires_phone or deal.required_tag_id is not None:
        _deal_requirements_check(deal=deal, member_id=member_id)
    if deal.price_fen > 0 and not wechat.wechat_pay_available():
        raise WeChatUnavailableError()

    gate = deal.gate
    answer = gate_take(deal=gate, member_id=member_id)
    if answer is GateAnswer.SOLD_OUT:
        deal_sold_out_remember(deal=deal)
        raise DealSoldOutError()
    if answer is GateAnswer.LIMIT_REACHED:
        raise DealLimitReachedError()
    gated = answer is GateAnswer.OK
    try:
        order, openid = _order_insert(deal=deal, member_id=member_id, now=now)
    except DealSoldOutError:
        # The gate counted a unit the database did not have: keep it taken, so the gate
        # comes down to the truth; give the member's count back.
        if gated:
            gate_give_back(deal=gate, member_id=member_id, stock=False, member=True)
        deal_sold_out_remember(deal=deal)
        raise
    except DealLimitReachedError:
        # The gate under-counted the member: keep the count, give the unit back.
        if gated:
            gate_give_back(deal=gate, member_id=member_id, stock=True, member=False)
        raise
    except BaseException:
        if gated:
            gate_give_back(deal=gate, member_id=member_id)
        raise

    order.pay_params = None
    if deal.price_fen > 0:
        order.pay_params = _payment_open(order=order, deal=deal, openid=openid, client_ip=client_ip)
    return order


def _payment_open(*, order: FlashOrder, deal: DealSnapshot, openid: str, client_ip: str) -> dict:
    """The WeChat Pay unified order for ``order``; cancels the order when WeChat fails."""
    try:
        return wechat.wechat_pay_order_create(
            out_trade_no=order.order_no,
            total_fee=order.price_fen,
            body=deal.title,
            openid=openid,
            notify_url=settings.WECHAT_PAY_NOTIFY_URL,
            client_ip=client_ip,
            expires_at=order.expires_at,
        )
    except ApplicationError as error:
        logger.warning("WeChat Pay order for %s not created: %s", order.order_no, error)
        flash_order_cancel(order=order, now=timezone.now(), close_wechat_order=True)
        order.status = FlashOrderStatus.CANCELLED
        raise WeChatUnavailableError() from error


# --- Cancel and expire ---------------------------------------------------------------------------


def flash_order_cancel(
    *,
    order: FlashOrder,
    now: datetime.datetime,
    close_wechat_order: bool = False,
    notify_member: bool = False,
) -> bool:
    """Cancel an unpaid order and give its unit back, exactly once.

    Only the caller whose conditional transition ``awaiting_payment → cancelled`` changes the
    row gives the stock back (to the database, and to the Redis gate after commit); every other
    caller gets False and changes nothing. With ``close_wechat_order`` the WeChat Pay order is
    closed first, best effort: a payment that slips through is honoured or refunded. With
    ``notify_member`` (the payment window passed, the member is not looking at the answer) the
    member is told through the notification outbox, in the same transaction.
    """
    if close_wechat_order:
        _wechat_order_close(order_no=order.order_no)
    with transaction.atomic():
        changed = FlashOrder.objects.filter(
            pk=order.pk, status=FlashOrderStatus.AWAITING_PAYMENT
        ).update(status=FlashOrderStatus.CANCELLED, cancelled_at=now)
        if changed:
            FlashDeal.objects.filter(pk=order.deal_id).update(
                remaining_stock=F("remaining_stock") + 1
            )
            transaction.on_commit(
                lambda: _gate_give_back_for(deal_id=order.deal_id, member_id=order.member_id)
            )
            if notify_member:
                notification_enqueue(
                    member_id=order.member_id,
                    event=NotificationEvent.DEAL_ORDER_CANCELLED,
                    payload={
                        "order_no": order.order_no,
                        "deal_title": _deal_title(order.deal_id),
                        "cancelled_at": now,
                    },
                )
    return bool(changed)


def _deal_title(deal_id: int) -> str:
    return FlashDeal.objects.values_list("title", flat=True).get(pk=deal_id)


def _gate_give_back_for(*, deal_id: int, member_id: int) -> None:
    deal_sold_out_forget(deal_id=deal_id)
    try:
        deal = deal_snapshot_get(deal_id=deal_id)
    except ApplicationError:
        return
    gate_give_back(deal=deal.gate, member_id=member_id)


def _wechat_order_close(*, order_no: str) -> None:
    try:
        wechat.wechat_pay_order_close(out_trade_no=order_no)
    except ApplicationError as error:
        logger.warning("WeChat Pay order %s not closed: %s", order_no, error)


def flash_order_expire(*, order_id: int, now: datetime.datetime | None = None) -> str:
    """Settle an unpaid order whose payment window has passed; safe to run any number of times.

    Asks WeChat Pay first: a paid order (its callback lost) is recorded as paid; an order the
    member is paying right now is left for the next sweep; otherwise the WeChat order is closed
    and the order cancelled with its stock returned (flash_order_cancel, exactly once). When
    WeChat cannot be reached nothing changes and the sweep tries again.

    Returns what happened: ``"not_due"``, ``"settled"`` (nothing to do), ``"paid"``,
    ``"paying"``, ``"unknown"`` (WeChat unreachable), ``"cancelled"``.
    """
    now = now or timezone.now()
    order = FlashOrder.objects.filter(pk=order_id).first()
    if order is None or order.status != FlashOrderStatus.AWAITING_PAYMENT:
        return "settled"
    if order.expires_at > now:
        return "not_due"
    result = _wechat_order_query(order_no=order.order_no)
    if result is None:
        return "unknown"
    if result["trade_state"] in _PAYING_TRADE_STATES:
        return "paying"
    if result["trade_state"] not in _PAID_TRADE_STATES:
        try:
            # Once closed it cannot be paid; the order's time_expire at WeChat is the same
            # moment, so a close that fails for lack of WeChat leaves nothing payable either.
            wechat.wechat_pay_order_close(out_trade_no=order.order_no)
        except WeChatPayOrderPaidError:
            result = _wechat_order_query(order_no=order.order_no)
            if result is None or result["trade_state"] not in _PAID_TRADE_STATES:
                return "unknown"
        except ApplicationError as error:
            logger.warning("WeChat Pay order %s not closed: %s", order.order_no, error)
    if result["trade_state"] in _PAID_TRADE_STATES:
        flash_order_payment_record(
            order_no=order.order_no,
            transaction_id=result.get("transaction_id") or "",
            total_fee=int(result["total_fee"]),
            now=now,
        )
        return "paid"
    cancelled = flash_order_cancel(order=order, now=now, notify_member=True)
    return "cancelled" if cancelled else "settled"


def _wechat_order_query(*, order_no: str) -> dict | None:
    """WeChat Pay's view of the order, or None when WeChat cannot say right now."""
    try:
        return wechat.wechat_pay_order_query(out_trade_no=order_no)
    except ApplicationError as error:
        logger.warning("WeChat Pay query for %s failed: %s", order_no, error)
        return None


# --- Payment -------------------------------------------------------------------------------------


def flash_order_payment_record(
    *,
    order_no: str,
    transaction_id: str,
    total_fee: int,
    now: datetime.datetime | None = None,
) -> FlashOrder:
    """Record WeChat Pay's word that ``order_no`` was paid ``total_fee``; idempotent.

    Preconditions: the notice is authentic (signature, merchant and app id checked by the
    gateway). Raises PaymentMismatchError, changing nothing, for an unknown order or a wrong
    amount.

    - awaiting payment → paid, and the voucher coupon issued, in one transaction;
    - already paid or refunded → nothing (a replayed notice);
    - cancelled (the window passed first) → honoured when a unit is still in stock and the
      member is within the limit (paid, coupon issued), otherwise refunded: the order becomes
      ``refunded`` with a FlashRefund row, sent to WeChat after commit (flash_refund_send).
    """
    now = now or timezone.now()
    with transaction.atomic():
        order = FlashOrder.objects.select_for_update().filter(order_no=order_no).first()
        if order is None:
            raise PaymentMismatchError(_("Unknown order %(order_no)s.") % {"order_no": order_no})
        if total_fee != order.price_fen:
            raise PaymentMismatchError(
                _("Order %(order_no)s costs %(price)d fen, the payment says %(paid)d.")
                % {"order_no": order_no, "price": order.price_fen, "paid": total_fee}
            )
        if order.status in (FlashOrderStatus.PAID, FlashOrderStatus.REFUNDED):
            if transaction_id and order.transaction_id and transaction_id != order.transaction_id:
                logger.error(
                    "order %s paid twice: %s and %s", order_no, order.transaction_id, transaction_id
                )
            return order
        if order.status == FlashOrderStatus.AWAITING_PAYMENT:
            _order_mark_paid(
                order=order, from_status=order.status, transaction_id=transaction_id, now=now
            )
            return order
        # Cancelled: the money is real, the unit went back to the deal.
        if _order_honour_late_payment(order=order, transaction_id=transaction_id, now=now):
            deal_id, member_id = order.deal_id, order.member_id
            transaction.on_commit(lambda: _gate_consume_for(deal_id=deal_id, member_id=member_id))
            return order
        _order_refund_record(
            order=order,
            transaction_id=transaction_id,
            now=now,
            reason="paid after the order was cancelled and the deal sold out",
        )
        return order


def _order_mark_paid(
    *, order: FlashOrder, from_status: str, transaction_id: str, now: datetime.datetime
) -> None:
    coupon = coupon_issue(
        member=Member.objects.get(pk=order.member_id),
        campaign=Campaign.objects.get(flash_deals=order.deal_id),
        source=CouponSource.DEAL,
        now=now,
    )
    changed = FlashOrder.objects.filter(pk=order.pk, status=from_status).update(
        status=FlashOrderStatus.PAID, paid_at=now, transaction_id=transaction_id, coupon=coupon
    )
    if changed != 1:
        # The row is locked by the caller; anything else is a bug worth stopping for.
        raise RuntimeError(f"flash order {order.order_no} changed under its lock")
    order.status, order.paid_at, order.transaction_id = FlashOrderStatus.PAID, now, transaction_id
    order.coupon = coupon
    notification_enqueue(
        member_id=order.member_id,
        event=NotificationEvent.DEAL_ORDER_PAID,
        payload={
            "order_no": order.order_no,
            "deal_title": _deal_title(order.deal_id),
            "paid_fen": order.price_fen,
            "paid_at": now,
        },
    )


def _order_honour_late_payment(
    *, order: FlashOrder, transaction_id: str, now: datetime.datetime
) -> bool:
    """Turn a cancelled, paid order into a paid one when a unit and the member's limit allow."""
    try:
        with transaction.atomic():
            # The order first (its slot may be taken by a newer grab: IntegrityError), then the
            # deal row, in the same order as a grab.
            _order_mark_paid(
                order=order,
                from_status=FlashOrderStatus.CANCELLED,
                transaction_id=transaction_id,
                now=now,
            )
            taken = FlashDeal.objects.filter(pk=order.deal_id, remaining_stock__gt=0).update(
                remaining_stock=F("remaining_stock") - 1
            )
            if not taken:
                raise DealSoldOutError()
    except (IntegrityError, DealSoldOutError):
        order.status, order.coupon, order.paid_at = FlashOrderStatus.CANCELLED, None, None
        return False
    logger.info("late payment for cancelled order %s honoured", order.order_no)
    return True


def _gate_consume_for(*, deal_id: int, member_id: int) -> None:
    try:
        deal = deal_snapshot_get(deal_id=deal_id)
    except ApplicationError:
        return
    gate_consume(deal=deal.gate, member_id=member_id)


def _order_refund_record(
    *, order: FlashOrder, transaction_id: str, now: datetime.datetime, reason: str
) -> FlashRefund:
    FlashOrder.objects.filter(pk=order.pk).update(
        status=FlashOrderStatus.REFUNDED,
        paid_at=now,
        refunded_at=now,
        transaction_id=transaction_id,
    )
    order.status, order.paid_at, order.refunded_at = FlashOrderStatus.REFUNDED, now, now
    order.transaction_id = transaction_id
    refund = FlashRefund.objects.create(
        order=order,
        out_refund_no=f"R{order.order_no}",
        total_fee=order.price_fen,
        refund_fee=order.price_fen,
        reason=reason,
    )
    logger.warning("late payment for order %s will be refunded: %s", order.order_no, reason)
    transaction.on_commit(lambda: _refund_schedule(refund_id=refund.pk))
    return refund


def _refund_schedule(*, refund_id: int) -> None:
    from coupons.tasks import flash_refund_send_task

    try:
        flash_refund_send_task.delay(refund_id)
    except Exception:
        logger.warning("could not enqueue refund %s; the sweep sends it", refund_id, exc_info=True)


def flash_refund_send(*, refund_id: int, now: datetime.datetime | None = None) -> bool:
    """Ask WeChat Pay to refund; True once WeChat has accepted it. Safe to repeat.

    WeChat treats a repeated ``out_refund_no`` as the same refund, so a retry after a timeout
    cannot refund twice. A failure is counted on the row and left for the sweep.
    """
    now = now or timezone.now()
    refund = FlashRefund.objects.select_related("order").filter(pk=refund_id).first()
    if refund is None or refund.status == FlashRefundStatus.SUCCEEDED:
        return refund is not None
    try:
        result = wechat.wechat_pay_refund(
            out_trade_no=refund.order.order_no,
            out_refund_no=refund.out_refund_no,
            total_fee=refund.total_fee,
            refund_fee=refund.refund_fee,
        )
    except ApplicationError as error:
        FlashRefund.objects.filter(pk=refund.pk).update(
            attempts=F("attempts") + 1, last_error=str(error)[:255]
        )
        logger.warning("refund %s failed: %s", refund.out_refund_no, error)
        return False
    FlashRefund.objects.filter(pk=refund.pk, status=FlashRefundStatus.PENDING).update(
        status=FlashRefundStatus.SUCCEEDED,
        succeeded_at=now,
        refund_id=str((result or {}).get("refund_id") or "")[:64],
        attempts=F("attempts") + 1,
        last_error="",
    )
    return True


# --- Sweep ---------------------------------------------------------------------------------------


def flash_orders_expire_due(
    *, deal_id: int, due_by: datetime.datetime, now: datetime.datetime | None = None
) -> dict:
    """Settle a deal's unpaid orders whose window closed by ``due_by`` (and by now).

    The countdown task of one expiry batch (see _expiry_schedule); every order goes through
    flash_order_expire, so it is safe beside the sweep and against a second delivery.
    Returns the count of each outcome.
    """
    now = now or timezone.now()
    order_ids = (
        FlashOrder.objects.overdue(min(due_by, now))
        .filter(deal_id=deal_id)
        .order_by("expires_at")
        .values_list("pk", flat=True)
    )
    return _orders_expire(order_ids=list(order_ids), now=now)


def _orders_expire(*, order_ids: list[int], now: datetime.datetime) -> dict[str, int]:
    """flash_order_expire for each order; one failing order is logged, the others go on."""
    outcomes: dict[str, int] = {}
    for order_id in order_ids:
        try:
            outcome = flash_order_expire(order_id=order_id, now=now)
        except Exception:
            logger.exception("could not settle flash order %s", order_id)
            outcome = "error"
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return outcomes


def flash_order_sweep(*, now: datetime.datetime | None = None, batch_size: int = 500) -> dict:
    """Settle overdue unpaid orders and resend pending refunds; safe to run beside the tasks.

    Every order goes through flash_order_expire, so the sweep racing the countdown task
    returns each unit once. One failing order is logged and does not stop the others.
    """
    now = now or timezone.now()
    order_ids = (
        FlashOrder.objects.overdue(now)
        .order_by("expires_at")
        .values_list("pk", flat=True)[:batch_size]
    )
    outcomes = _orders_expire(order_ids=list(order_ids), now=now)
    refund_ids = list(
        FlashRefund.objects.filter(status=FlashRefundStatus.PENDING)
        .order_by("pk")
        .values_list("pk", flat=True)[:batch_size]
    )
    for refund_id in refund_ids:
        sent = flash_refund_send(refund_id=refund_id, now=now)
        key = "refunded" if sent else "refund_failed"
        outcomes[key] = outcomes.get(key, 0) + 1
    return outcomes


# --- Reminders -----------------------------------------------------------------------------------


def deal_remind(
    *, member_id: int, deal_id: int, now: datetime.datetime | None = None
) -> tuple[DealReminder, bool]:
    """Remember that the member wants to hear when the deal starts; idempotent.

    Returns the reminder and whether it is new. Raises DealNotFoundError, DealEndedError.
    """
    now = now or timezone.now()
    deal = deal_snapshot_get(deal_id=deal_id)
    if now >= deal.ends_at:
        raise DealEndedError()
    # get_or_create retries the read when a concurrent insert wins the unique constraint.
    return DealReminder.objects.get_or_create(deal_id=deal.id, member_id=member_id)


DEAL_REMINDER_LEAD = datetime.timedelta(minutes=5)


def deal_start_reminders_enqueue(*, now: datetime.datetime | None = None) -> int:
    """Tell the members who asked that a deal starts within ``DEAL_REMINDER_LEAD``.

    Runs every minute (beat). One notification per member and deal: the outbox's dedupe key
    makes a second run, or two overlapping runs, write nothing more. Returns how many were
    written. Each deal's reminders are written in one transaction, so a crash leaves a deal
    either done or untouched.
    """
    now = now or timezone.now()
    written = 0
    deals = FlashDeal.objects.filter(
        is_paused=False, starts_at__gt=now, starts_at__lte=now + DEAL_REMINDER_LEAD
    ).only("pk", "title", "price_fen", "starts_at")
    for deal in deals:
        member_ids = DealReminder.objects.filter(deal=deal).values_list("member_id", flat=True)
        with transaction.atomic():
            for member_id in member_ids.iterator(chunk_size=2000):
                notification = notification_enqueue(
                    member_id=member_id,
                    event=NotificationEvent.DEAL_STARTING,
                    payload={
                        "deal_id": deal.pk,
                        "deal_title": deal.title,
                        "price_fen": deal.price_fen,
                        "starts_at": deal.starts_at,
                    },
                    dedupe_key=f"deal-{deal.pk}",
                )
                written += notification is not None
    return written
