"""Celery tasks of the members app: thin, take ids, idempotent.

Every task here is ``acks_late``: a worker that dies mid-task leaves the message to the broker,
which delivers it again; running a task twice does no harm (the services below settle it).
"""

import time

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from members.services.notifications import (
    NotificationRetryLater,
    coupons_expiring_digest_enqueue,
    notification_dispatch_pending,
    notification_send,
)


@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    # One WeChat call with a few seconds' timeout; the hard limit stays well under
    # NOTIFICATION_SENDING_TIMEOUT_SECONDS, after which the dispatcher closes a claim.
    soft_time_limit=20,
    time_limit=30,
    # The row counts attempts (NOTIFICATION_MAX_ATTEMPTS); this is only a backstop.
    max_retries=settings.NOTIFICATION_MAX_ATTEMPTS,
    ignore_result=True,
)
def notification_send_task(self, notification_id: int) -> str | None:
    """Send one notification. A no-op unless the row is pending (another worker sent it)."""
    try:
        return notification_send(notification_id=notification_id)
    except NotificationRetryLater as retry:
        if self.request.is_eager:
            # No broker to hold a delayed retry (development, tests): Celery's eager apply()
            # runs the returned retry at once.
            return self.retry(countdown=retry.countdown, throw=False)
        # The row is pending again with next_attempt_at; if this retry message is lost,
        # the dispatcher sends it.
        raise self.retry(countdown=retry.countdown) from None


@shared_task(acks_late=True, soft_time_limit=45, time_limit=55, ignore_result=True)
def notification_dispatch_pending_task() -> dict:
    """Every minute: publish pending notifications again and close abandoned sends."""
    result = notification_dispatch_pending()
    return {"abandoned": result.abandoned, "published": result.published}


@shared_task(acks_late=True, soft_time_limit=1800, time_limit=1900, ignore_result=True)
def coupons_expiring_digest_task() -> int:
    """Daily: one digest per member whose coupons expire within 3 days (once per day)."""
    return coupons_expiring_digest_enqueue(now=timezone.now())


# --- Legacy cards, tags and targeted issues -------------------------------------------------

# A big import or issue outlives the default time limit; each task checks its own progress
# and a redelivered one does no harm (see the services).
_LONG_TIME_LIMIT = 4 * 3600


@shared_task(acks_late=True, time_limit=_LONG_TIME_LIMIT, soft_time_limit=_LONG_TIME_LIMIT - 60)
def legacy_import_run_task(import_id: int) -> None:
    from members.services.legacy import legacy_import_run

    legacy_import_run(import_id=import_id)


@shared_task(acks_late=True, ignore_result=True)
def tag_rules_evaluate_task() -> None:
    from members.services.tags import tag_rules_evaluate

    tag_rules_evaluate()


# How long one run of a targeted issue works before handing over to a fresh task.
_TARGETED_ISSUE_SLICE_SECONDS = 120


@shared_task(bind=True)
def targeted_issue_run_task(self, issue_id: int) -> None:
    from members.models import TargetedIssueStatus
    from members.services.targeted_issues import targeted_issue_run

    issue = targeted_issue_run(
        issue_id=issue_id, deadline=time.monotonic() + _TARGETED_ISSUE_SLICE_SECONDS
    )
    if issue.status == TargetedIssueStatus.RUNNING:
        self.apply_async(args=[issue_id])
