"""Writers for notifications: subscription grants, the outbox, and sending subscribe messages.

A notification is a ``Notification`` row written in the same transaction as the event that
causes it (``notification_enqueue``); a Celery task sends it once that transaction commits.

States::

    pending ──claim──▶ sending ──WeChat accepted──────────────────────▶ sent
      ▲   │                    ├─ 43101, the member refused ───────────▶ skipped_user_refused
      │   │                    ├─ timeout, 5xx, 45011, attempts left ──▶ pending (retry later)
      │   │                    ├─ the same after the last attempt, ──▶ failed
      │   │                    │  or any other error
      │   │                    └─ the worker died mid-call ───────────▶ failed (by the dispatcher)
      │   └─ no grant left for the template ─────────────────────────▶ skipped_no_grant
      └── an admin retries a failed one

Delivery guarantee. WeChat's send call cannot be made idempotent (it takes no request id), so
the choice is between duplicates and losses when a worker dies during the call. This module
sends **at most once**: a worker claims the row with a conditional ``pending → sending`` update
before calling WeChat, and only the worker whose update changed the row sends. Everything else
is **at least once** while grants and WeChat allow: the row exists before any Celery message;
a message that was never published (broker down) or was lost is replaced by the dispatcher,
which publishes pending rows again; the task is ``acks_late`` so the broker redelivers what a
dead worker had taken; a retryable WeChat failure puts the row back to ``pending``. The one
case left is a worker killed between its claim and recording WeChat's answer: nobody can know
whether WeChat delivered, so after ``NOTIFICATION_SENDING_TIMEOUT_SECONDS`` the dispatcher
records it as failed with that reason rather than send it a second time.

Grants: a grant is taken (conditional ``F()`` update) when the row is claimed, in the same
transaction, and given back whenever the message was not delivered, so that a grant is used
only by a message that was really sent.
"""

import datetime
import logging
import random
import string
import time
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.db.models.functions import Now
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from backend import wechat
from backend.exceptions import WeChatError, WeChatRateLimitedError, WeChatUnavailableError
from members.models import (
    Notification,
    NotificationEvent,
    NotificationState,
    SubscriptionGrant,
)

logger = logging.getLogger(__name__)

WECHAT_USER_REFUSED = 43101
# The gateway refreshes the access token on these; one more attempt later is worth it.
WECHAT_TOKEN_INVALID = frozenset({40001, 42001})

# WeChat's length limits for the kinds of template field (the field name minus its number).
FIELD_LIMITS = {
    "thing": 20,
    "name": 10,
    "phrase": 5,
    "character_string": 32,
    "number": 32,
    "letter": 32,
    "symbol": 5,
    "phone_number": 17,
    "car_number": 8,
}

# After a failed publish, the web process stops trying the broker for this long: each attempt
# costs the request up to the broker's connection timeout, and the dispatcher sends the rows.
BROKER_COOL_OFF_SECONDS = 30.0
_broker_down_until = 0.0


class NotificationPayloadError(ValueError):
    """The payload lacks a key the event's template needs: a bug in the caller."""


class NotificationRetryLater(Exception):
    """WeChat could not take the message now; the row is pending again until ``countdown``."""

    def __init__(self, countdown: float):
        self.countdown = countdown
        super().__init__(f"retry in {countdown:.1f}s")


# --- Templates ----------------------------------------------------------------------------------


def notification_template(event: str) -> dict | None:
    """The settings entry for ``event``, or None when the event is switched off."""
    template = settings.NOTIFICATION_TEMPLATES.get(event)
    if not template or not template.get("template_id"):
        return None
    return template


def _display_context(payload: dict) -> dict:
    """The payload plus display forms: ``x_fen`` → ``x_yuan``; ``*_at`` in local time."""
    context = dict(payload)
    for key, value in payload.items():
        if key.endswith("_fen") and isinstance(value, int):
            context[key.removesuffix("_fen") + "_yuan"] = f"¥{value / 100:.2f}"
        elif key.endswith("_at") and value:
            moment = value
            if isinstance(value, str):
                moment = datetime.datetime.fromisoformat(value)
            if isinstance(moment, datetime.datetime):
                if timezone.is_naive(moment):
                    moment = timezone.make_aware(moment)
                context[key] = timezone.localtime(moment).strftime("%Y-%m-%d %H:%M")
    return context


def _field_limit(field: str) -> int | None:
    return FIELD_LIMITS.get(field.rstrip(string.digits))


def _fit(field: str, text: str) -> str:
    limit = _field_limit(field)
    if limit is None or len(text) <= limit:
        return text
    if field.startswith("thing"):
        return text[: limit - 1] + "…"
    return text[:limit]


def notification_message(*, event: str, payload: dict) -> tuple[str, dict, str]:
    """``(template_id, data, page)`` of the subscribe message for ``event`` with ``payload``.

    Raises NotificationPayloadError when the payload lacks a key the template uses, and
    LookupError when the event has no template configured.
    """
    template = notification_template(event)
    if template is None:
        raise LookupError(f"no subscribe-message template configured for {event!r}")
    context = _display_context(payload)
    try:
        data = {
            field: {"value": _fit(field, _(fmt).format_map(context))}
            for field, fmt in template["data"].items()
        }
        page = template.get("page", "").format_map(context)
    except KeyError as exc:
        raise NotificationPayloadError(
            f"payload for {event!r} lacks {exc.args[0]!r}; it has {sorted(payload)}"
        ) from None
    return template["template_id"], data, page


# --- Grants -------------------------------------------------------------------------------------


def subscription_answer_record(
    *, member_id: int, accepted: Iterable[str], rejected: Iterable[str] = ()
) -> None:
    """Record a member's answer to ``wx.requestSubscribeMessage``.

    Each accepted template id gives the member one more grant for that template (WeChat allows
    one message per acceptance). Rejected ids change nothing: WeChat keeps no grant for them.

    Preconditions: every id is a configured template id, else ValidationError (400) and
    nothing is recorded. Side effects: creates the member's grant counters when missing.
    """
    accepted, rejected = list(accepted), list(rejected)
    known = {
        t["template_id"] for t in settings.NOTIFICATION_TEMPLATES.values() if t.get("template_id")
    }
    errors = {}
    for name, ids in (("accepted", accepted), ("rejected", rejected)):
        unknown = sorted(set(ids) - known)
        if unknown:
            errors[name] = [_("Unknown template id: %(ids)s") % {"ids": ", ".join(unknown)}]
    if errors:
        raise ValidationError(errors, code="unknown_template")

    # Sorted, so that two answers of one member lock the counters in the same order.
    counts: dict[str, int] = {}
    for template_id in sorted(accepted):
        counts[template_id] = counts.get(template_id, 0) + 1
    if not counts:
        return
    with transaction.atomic():
        SubscriptionGrant.objects.bulk_create(
            [SubscriptionGrant(member_id=member_id, template_id=t) for t in counts],
            ignore_conflicts=True,
        )
        for template_id, count in counts.items():
            SubscriptionGrant.objects.filter(member_id=member_id, template_id=template_id).update(
                remaining=F("remaining") + count,
                accepted_total=F("accepted_total") + count,
                updated_at=Now(),
            )


def _grant_take(*, member_id: int, template_id: str) -> bool:
    taken = SubscriptionGrant.objects.filter(
        member_id=member_id, template_id=template_id, remaining__gt=0
    ).update(remaining=F("remaining") - 1, updated_at=Now())
    return taken == 1


def _grant_give_back(*, member_id: int, template_id: str) -> None:
    SubscriptionGrant.objects.filter(member_id=member_id, template_id=template_id).update(
        remaining=F("remaining") + 1, updated_at=Now()
    )


# --- The outbox ---------------------------------------------------------------------------------


def _publish_send_tasks(notification_ids: list[int], *, even_if_broker_down: bool) -> int:
    """Publish one send task per id; returns how many were published.

    A publish that fails leaves its row pending for the dispatcher: the error is logged, never
    raised, because the event that caused the notification has already committed.
    """
    global _broker_down_until
    from members.tasks import notification_send_task  # the tasks module imports this one

    eager = notification_send_task.app.conf.task_always_eager
    if not (even_if_broker_down or eager) and time.monotonic() < _broker_down_until:
        return 0
    published = 0
    for notification_id in notification_ids:
        try:
            notification_send_task.delay(notification_id)
        except Exception:
            if eager:
                raise  # the task itself failed: a bug to see, not a broker outage
            _broker_down_until = time.monotonic() + BROKER_COOL_OFF_SECONDS
            logger.warning(
                "could not publish %d notification(s) to the broker; the dispatcher will send them",
                len(notification_ids) - published,
                exc_info=True,
            )
            return published
        published += 1
    _broker_down_until = 0.0
    return published


def _send_after_commit(notification_ids: list[int]) -> None:
    transaction.on_commit(lambda: _publish_send_tasks(notification_ids, even_if_broker_down=False))


def notification_enqueue(
    *, member_id: int, event: str, payload: dict, dedupe_key: str = ""
) -> Notification | None:
    """Record a notification for ``member_id`` and send it once the transaction commits.

    Preconditions: runs inside the transaction that records the event (``transaction.atomic``)
    so that the notification commits or rolls back with it (RuntimeError otherwise); ``event``
    is a ``NotificationEvent``; ``payload`` is JSON-serialisable (datetimes allowed) and has
    every key the event's template uses (NotificationPayloadError otherwise; the keys are
    listed in README.md, "Notifications").

    Side effects: writes a pending ``Notification``; after commit, publishes
    ``notification_send_task``. If the broker cannot take it, the error is logged and the row
    stays pending until the dispatcher sends it. Returns None, writing nothing, when the
    event's template is switched off (empty template id) or when ``dedupe_key`` was already
    used for this member and event.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError(
            "notification_enqueue must run inside the transaction that records its event"
        )
    event = NotificationEvent(event)
    template = notification_template(event)
    if template is None:
        return None
    notification_message(event=event, payload=payload)  # fail in the caller, not in a worker
    notification = Notification(
        member_id=member_id,
        event=event,
        template_id=template["template_id"],
        payload=payload,
        dedupe_key=dedupe_key,
    )
    if not dedupe_key:
        notification.save(force_insert=True)
    else:
        try:
            # A savepoint, so that a duplicate leaves the caller's transaction usable.
            with transaction.atomic():
                notification.save(force_insert=True)
        except IntegrityError:
            return None
    _send_after_commit([notification.pk])
    return notification


def notification_enqueue_many(*, member_ids: list[int], event: str, payload: dict) -> int:
    """``notification_enqueue`` for many members with one payload, in one statement.

    For broadcasts (a coupon issued to everyone with a tag). Same preconditions as
    ``notification_enqueue``. Like the daily digest, only members who hold a grant for the
    event's template get a row: a row that could only be skipped tells nobody anything.
    Side effects: bulk-inserts pending notifications; after commit, publishes their send tasks
    (the dispatcher sends whatever the broker did not take). Returns how many were written.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError(
            "notification_enqueue_many must run inside the transaction that records its event"
        )
    event = NotificationEvent(event)
    template = notification_template(event)
    if template is None or not member_ids:
        return 0
    notification_message(event=event, payload=payload)  # fail in the caller, not in a worker
    granted = SubscriptionGrant.objects.filter(
        template_id=template["template_id"], remaining__gt=0, member_id__in=member_ids
    ).values_list("member_id", flat=True)
    notifications = Notification.objects.bulk_create(
        [
            Notification(
                member_id=member_id,
                event=event,
                template_id=template["template_id"],
                payload=payload,
            )
            for member_id in granted
        ]
    )
    _send_after_commit([notification.pk for notification in notifications])
    return len(notifications)


def coupons_expiring_digest_enqueue(*, now: datetime.datetime, within_days: int = 3) -> int:
    """One "coupons expiring" notification per member whose unused coupons expire soon.

    Counts the member's usable coupons that expire within ``within_days`` of ``now``. Only
    members who hold a grant for the template get a row: the digest is a broadcast, and a row
    that could only be skipped tells nobody anything. Idempotent for the business day: the
    row's ``dedupe_key`` is the date, so a second run that day adds nothing.

    Side effects: writes pending notifications in batches, each batch in its own transaction,
    and publishes their send tasks after each commit. Returns how many rows were written.
    """
    from coupons.models import Coupon

    template = notification_template(NotificationEvent.COUPONS_EXPIRING)
    if template is None:
        return 0
    dedupe_key = timezone.localdate(now).isoformat()
    granted_members = SubscriptionGrant.objects.filter(
        template_id=template["template_id"], remaining__gt=0
    ).values("member_id")
    coupons = (
        Coupon.objects.usable(now)
        .filter(valid_until__lte=now + datetime.timedelta(days=within_days))
        .filter(member_id__in=granted_members)
        .order_by("member_id", "valid_until", "pk")
        .values_list("member_id", "campaign__name", "valid_until")
    )

    written = 0
    batch: list[Notification] = []

    def flush():
        nonlocal written
        if not batch:
            return
        digests = Notification.objects.filter(
            event=NotificationEvent.COUPONS_EXPIRING, dedupe_key=dedupe_key
        )
        with transaction.atomic():
            done = set(
                digests.filter(member_id__in=[n.member_id for n in batch]).values_list(
                    "member_id", flat=True
                )
            )
            new = [n for n in batch if n.member_id not in done]
            # A run overlapping this one may insert the same digests: the unique constraint
            # keeps one, and publishing it twice is harmless (the send claims it once).
            Notification.objects.bulk_create(new, ignore_conflicts=True)
            ids = list(
                digests.filter(
                    member_id__in=[n.member_id for n in new], state=NotificationState.PENDING
                ).values_list("pk", flat=True)
            )
            written += len(ids)
            if ids:
                _send_after_commit(ids)
        batch.clear()

    def digest(member_id, first_name, first_expiry, count):
        label = first_name
        if count > 1:
            label = ngettext(
                "%(name)s and %(count)d more", "%(name)s and %(count)d more", count - 1
            ) % {"name": first_name, "count": count - 1}
        return Notification(
            member_id=member_id,
            event=NotificationEvent.COUPONS_EXPIRING,
            template_id=template["template_id"],
            payload={"count": count, "campaign_name": label, "expires_at": first_expiry},
            dedupe_key=dedupe_key,
        )

    current = None  # [member_id, first campaign name, first expiry, count]
    for member_id, campaign_name, valid_until in coupons.iterator(chunk_size=2000):
        if current and current[0] == member_id:
            current[3] += 1
            continue
        if current:
            batch.append(digest(*current))
            if len(batch) >= 500:
                flush()
        current = [member_id, campaign_name, valid_until, 1]
    if current:
        batch.append(digest(*current))
    flush()
    return written


# --- Sending ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Claim:
    notification_id: int
    claimed_at: datetime.datetime
    member_id: int
    openid: str
    template_id: str
    data: dict
    page: str
    attempts: int


def _claim(notification_id: int, now: datetime.datetime) -> _Claim | str | None:
    """Take the row for this worker and a grant for its message, in one transaction.

    Returns the claim, the final state when the row ends here (no grant, bad payload), or
    None when the row is not pending (another worker has it, or it is finished).
    """
    with transaction.atomic():
        claimed = Notification.objects.filter(
            pk=notification_id, state=NotificationState.PENDING
        ).update(
            state=NotificationState.SENDING,
            claimed_at=now,
            attempts=F("attempts") + 1,
        )
        if not claimed:
            return None
        notification = Notification.objects.select_related("member").get(pk=notification_id)

        def finish(state, reason):
            Notification.objects.filter(pk=notification_id).update(
                state=state, last_error=reason, claimed_at=None
            )
            return state

        try:
            _, data, page = notification_message(
                event=notification.event, payload=notification.payload
            )
        except (LookupError, ValueError) as exc:
            return finish(NotificationState.FAILED, f"cannot build the message: {exc}")
        if not _grant_take(member_id=notification.member_id, template_id=notification.template_id):
            return finish(
                NotificationState.SKIPPED_NO_GRANT,
                "the member has no grant left for this template",
            )
    return _Claim(
        notification_id=notification_id,
        claimed_at=now,
        member_id=notification.member_id,
        openid=notification.member.openid,
        template_id=notification.template_id,
        data=data,
        page=page,
        attempts=notification.attempts,
    )


def notification_retry_delay(attempts: int) -> float:
    """Seconds before attempt ``attempts + 1``: exponential backoff with jitter.

    Half of the exponential step is fixed and half random, so retries spread out (many rows
    meet the same WeChat outage) and still back off.
    """
    step = min(
        settings.NOTIFICATION_RETRY_BACKOFF_MAX_SECONDS,
        settings.NOTIFICATION_RETRY_BACKOFF_SECONDS * 2 ** max(attempts - 1, 0),
    )
    return step / 2 + random.uniform(0, step / 2)  # noqa: S311 (jitter, not security)


def _finish(claim: _Claim, *, state: str, reason: str = "", retry_in: float | None = None):
    """Record the outcome of a claimed send; gives the grant back unless it was sent."""
    now = timezone.now()
    changes = {"state": state, "last_error": reason[:2000], "claimed_at": None}
    if state == NotificationState.SENT:
        changes["sent_at"] = now
    if retry_in is not None:
        changes["next_attempt_at"] = now + datetime.timedelta(seconds=retry_in)
    with transaction.atomic():
        recorded = Notification.objects.filter(
            pk=claim.notification_id,
            state=NotificationState.SENDING,
            claimed_at=claim.claimed_at,
        ).update(**changes)
        if not recorded:
            # The dispatcher already closed this claim as abandoned (and gave the grant back):
            # only a worker stuck far beyond the task's time limit gets here.
            logger.error(
                "notification %s finished as %s after its claim was closed",
                claim.notification_id,
                state,
            )
            return
        if state != NotificationState.SENT:
            _grant_give_back(member_id=claim.member_id, template_id=claim.template_id)


def notification_send(*, notification_id: int) -> str | None:
    """Send one notification to WeChat, at most once.

    Preconditions: none; safe to call any number of times, from any number of workers at
    once: only the call whose conditional ``pending → sending`` update changes the row sends
    it, the others return None.

    Side effects: takes a grant (given back unless WeChat accepted the message), calls WeChat,
    records the outcome. Returns the state the row was left in. Raises NotificationRetryLater
    after putting the row back to pending when WeChat failed in a way worth retrying and
    attempts remain (``NOTIFICATION_MAX_ATTEMPTS``).
    """
    claim = _claim(notification_id, timezone.now())
    if claim is None or isinstance(claim, str):
        return claim

    try:
        wechat.wechat_subscribe_message_send(
            openid=claim.openid, template_id=claim.template_id, data=claim.data, page=claim.page
        )
    except (WeChatRateLimitedError, WeChatUnavailableError) as exc:
        return _retry_or_fail(claim, f"{exc.code}: {exc.detail}")
    except WeChatError as exc:
        reason = f"wechat errcode {exc.errcode}: {exc.detail}"
        if exc.errcode == WECHAT_USER_REFUSED:
            _finish(claim, state=NotificationState.SKIPPED_USER_REFUSED, reason=reason)
            return NotificationState.SKIPPED_USER_REFUSED
        if exc.errcode in WECHAT_TOKEN_INVALID:
            return _retry_or_fail(claim, reason)
        _finish(claim, state=NotificationState.FAILED, reason=reason)
        return NotificationState.FAILED
    except Exception as exc:
        logger.exception("notification %s: unexpected error sending", notification_id)
        _finish(claim, state=NotificationState.FAILED, reason=f"{type(exc).__name__}: {exc}")
        return NotificationState.FAILED
    _finish(claim, state=NotificationState.SENT)
    return NotificationState.SENT


def _retry_or_fail(claim: _Claim, reason: str) -> str:
    if claim.attempts >= settings.NOTIFICATION_MAX_ATTEMPTS:
        _finish(
            claim,
            state=NotificationState.FAILED,
            reason=f"gave up after {claim.attempts} attempts; last: {reason}",
        )
        return NotificationState.FAILED
    delay = notification_retry_delay(claim.attempts)
    _finish(claim, state=NotificationState.PENDING, reason=reason, retry_in=delay)
    raise NotificationRetryLater(delay)


@dataclass(frozen=True)
class DispatchResult:
    abandoned: int
    published: int


def notification_dispatch_pending(
    *, now: datetime.datetime | None = None, limit: int = 5000
) -> DispatchResult:
    """Publish again what is still pending, and close sends whose worker died.

    Runs every minute (``CELERY_BEAT_SCHEDULE``). A pending row is picked up
    ``NOTIFICATION_DISPATCH_GRACE_SECONDS`` after it was due: its own Celery message (sent
    after commit, or a retry) normally arrives first. A row it publishes is not picked up again
    for a few minutes, so a backlog in the queue is not published twice a minute. A row in
    ``sending`` whose claim is older than ``NOTIFICATION_SENDING_TIMEOUT_SECONDS`` was left by
    a worker that died during the WeChat call: it becomes failed (outcome unknown; at most
    once, see the module docstring) and its grant is given back.

    Side effects: as above; publishing errors are logged and the rows stay pending.
    """
    now = now or timezone.now()
    timeout = datetime.timedelta(seconds=settings.NOTIFICATION_SENDING_TIMEOUT_SECONDS)
    abandoned = 0
    with transaction.atomic():
        stale = list(
            Notification.objects.stale_sending(now - timeout)
            .select_for_update(skip_locked=True)
            .order_by("pk")
            .values_list("pk", "member_id", "template_id")[:limit]
        )
        if stale:
            abandoned = Notification.objects.filter(
                pk__in=[row[0] for row in stale], state=NotificationState.SENDING
            ).update(
                state=NotificationState.FAILED,
                claimed_at=None,
                last_error=(
                    "the worker stopped during the WeChat call; whether WeChat delivered is"
                    " unknown, so it is not sent again"
                ),
            )
            for _pk, member_id, template_id in stale:
                _grant_give_back(member_id=member_id, template_id=template_id)

    grace = datetime.timedelta(seconds=settings.NOTIFICATION_DISPATCH_GRACE_SECONDS)
    with transaction.atomic():
        due = list(
            Notification.objects.due(now - grace)
            .select_for_update(skip_locked=True)
            .order_by("pk")
            .values_list("pk", flat=True)[:limit]
        )
        if due:
            Notification.objects.filter(pk__in=due).update(
                next_attempt_at=now + max(4 * grace, timeout)
            )
    published = _publish_send_tasks(due, even_if_broker_down=True) if due else 0
    return DispatchResult(abandoned=abandoned, published=published)


def notification_retry_failed(*, notification_ids: Iterable[int]) -> int:
    """Send failed notifications again (an admin's action). Others are left as they are.

    Side effects: the failed ones become pending with their attempts reset; their send tasks
    are published after commit. Returns how many were put back.
    """
    with transaction.atomic():
        ids = list(
            Notification.objects.filter(
                pk__in=list(notification_ids), state=NotificationState.FAILED
            )
            .select_for_update()
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        Notification.objects.filter(pk__in=ids, state=NotificationState.FAILED).update(
            state=NotificationState.PENDING, attempts=0, next_attempt_at=Now()
        )
        if ids:
            _send_after_commit(ids)
    return len(ids)
