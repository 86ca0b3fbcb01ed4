"""Celery tasks of flash deals: thin, taking ids, safe to run twice or side by side."""

import datetime

from celery import shared_task

from coupons.services import flash_deals as flash_deal_services


@shared_task(acks_late=True, ignore_result=True)
def flash_orders_expire_due_task(deal_id: int, due_by: str) -> dict:
    """At the end of an expiry batch: cancel the deal's orders due by then, unless paid."""
    return flash_deal_services.flash_orders_expire_due(
        deal_id=deal_id, due_by=datetime.datetime.fromisoformat(due_by)
    )


@shared_task(acks_late=True, ignore_result=True)
def flash_order_sweep_task() -> dict:
    """Every minute (CELERY_BEAT_SCHEDULE): what the countdown tasks missed, pending refunds."""
    return flash_deal_services.flash_order_sweep()


@shared_task(acks_late=True, ignore_result=True)
def flash_refund_send_task(refund_id: int) -> bool:
    """Send one recorded refund to WeChat Pay; a failure waits for the sweep."""
    return flash_deal_services.flash_refund_send(refund_id=refund_id)


@shared_task(acks_late=True, ignore_result=True, soft_time_limit=50, time_limit=60)
def deal_start_reminders_task() -> int:
    """Every minute (CELERY_BEAT_SCHEDULE): remind those who asked that a deal starts soon."""
    return flash_deal_services.deal_start_reminders_enqueue()
