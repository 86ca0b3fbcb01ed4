"""Demo data for notifications: grants, so that demo members receive messages in the sandbox.

Call ``seed()`` from ``seed_demo``. Idempotent: tops every member up to ``GRANTS`` grants per
configured template, and never lowers a count.
"""

from django.conf import settings
from django.db import transaction

from members.models import Member, SubscriptionGrant

GRANTS = 5


def seed(stdout=None) -> None:
    template_ids = [
        t["template_id"] for t in settings.NOTIFICATION_TEMPLATES.values() if t.get("template_id")
    ]
    member_ids = list(Member.objects.values_list("pk", flat=True)[:1000])
    with transaction.atomic():
        SubscriptionGrant.objects.bulk_create(
            [
                SubscriptionGrant(member_id=m, template_id=t)
                for m in member_ids
                for t in template_ids
            ],
            ignore_conflicts=True,
        )
        SubscriptionGrant.objects.filter(
            member_id__in=member_ids, template_id__in=template_ids, remaining__lt=GRANTS
        ).update(remaining=GRANTS)
