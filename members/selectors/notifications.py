"""Reads for notifications: the templates a member can subscribe to, and the admin's figures."""

import datetime

from django.conf import settings
from django.db.models import Count, Q
from django.utils.translation import gettext as _

from members.models import Notification, NotificationState, SubscriptionGrant


def subscription_template_list(*, member_id: int) -> list[dict]:
    """The configured templates with how many grants ``member_id`` has left for each.

    One entry per event whose template is switched on, in the settings' order:
    ``{"template_id", "event", "title", "grants_left"}``. One query.
    """
    templates = [
        (event, template)
        for event, template in settings.NOTIFICATION_TEMPLATES.items()
        if template.get("template_id")
    ]
    grants = dict(
        SubscriptionGrant.objects.filter(
            member_id=member_id, template_id__in=[t["template_id"] for _e, t in templates]
        ).values_list("template_id", "remaining")
    )
    return [
        {
            "template_id": template["template_id"],
            "event": event,
            "title": _(template["title"]),
            "grants_left": grants.get(template["template_id"], 0),
        }
        for event, template in templates
    ]


SKIPPED_STATES = (NotificationState.SKIPPED_NO_GRANT, NotificationState.SKIPPED_USER_REFUSED)


def notification_figures_by_template(*, since: datetime.datetime) -> list[dict]:
    """Per template, notifications created since ``since``: total, sent, skipped, failed, open.

    ``open`` counts those still pending or being sent. One grouped query.
    """
    rows = (
        Notification.objects.filter(created_at__gte=since)
        .values("template_id", "event")
        .annotate(
            total=Count("pk"),
            sent=Count("pk", filter=Q(state=NotificationState.SENT)),
            skipped=Count("pk", filter=Q(state__in=SKIPPED_STATES)),
            failed=Count("pk", filter=Q(state=NotificationState.FAILED)),
            open=Count(
                "pk", filter=Q(state__in=[NotificationState.PENDING, NotificationState.SENDING])
            ),
        )
        .order_by("event", "template_id")
    )
    return list(rows)
