"""Writers for targeted issues: one coupon of a campaign to every member with a tag.

The members with the tag are walked in member-id order, a chunk per transaction, with the
issue's row locked while a chunk is written (two workers on one issue take turns; neither
repeats a chunk). Per chunk:

1. the per-member claim counter (``MemberCampaignClaims``) is raised from 0 to 1 in one upsert
   that returns exactly the members who had no coupon of the campaign yet; the rest are
   skipped, which is what makes a second run give nobody a second coupon;
2. the campaign's stock is taken for them with a conditional ``F()`` decrement, bounded by
   what is left; when it runs out the members beyond it get their counter back and the issue
   stops, saying how many got one;
3. their coupons are bulk-inserted.
"""

import time

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from coupons.models import Campaign, Coupon, CouponSource, MemberCampaignClaims
from coupons.services.coupons import coupon_validity
from members.exceptions import TargetedIssueNotAllowedError
from members.models import Member, NotificationEvent, Tag, TargetedIssue, TargetedIssueStatus
from members.services.notifications import notification_enqueue_many

MemberTag = Member.tags.through
CHUNK_SIZE = 5000


def targeted_issue_create(
    *, campaign: Campaign, tag: Tag, created_by=None, run_in_background: bool = True
) -> TargetedIssue:
    """Record an issue of ``campaign`` to the members with ``tag`` and start it after commit.

    Raises ``TargetedIssueNotAllowedError`` when the campaign is paused or its coupons can no
    longer be used (a fixed validity window that has ended).
    Side effects: a ``TargetedIssue`` row; ``targeted_issue_run_task`` enqueued on commit.
    """
    now = timezone.now()
    if campaign.is_paused:
        raise TargetedIssueNotAllowedError(_("The campaign is paused."))
    if campaign.valid_days is None and campaign.valid_until and campaign.valid_until <= now:
        raise TargetedIssueNotAllowedError(_("The campaign's coupons are no longer valid."))
    with transaction.atomic():
        issue = TargetedIssue.objects.create(
            campaign=campaign,
            tag=tag,
            created_by=created_by,
            members_total=_tag_members(tag.pk).count(),
        )
        if run_in_background:
            from members.tasks import targeted_issue_run_task

            transaction.on_commit(lambda: targeted_issue_run_task.delay(issue.pk))
    return issue


def _tag_members(tag_id: int):
    return MemberTag.objects.filter(tag_id=tag_id, member__is_active=True)


# The range is stated on both tables: without it PostgreSQL merge-joins the members from the
# first id on every chunk, and the walk over a big tag slows down chunk after chunk.
_CHUNK_SQL = """
SELECT mt.member_id
FROM {member_tags} mt JOIN {members} m ON m.id = mt.member_id
WHERE mt.tag_id = %s AND mt.member_id > %s AND m.id > %s AND m.is_active
ORDER BY mt.member_id
LIMIT %s
"""


def _chunk_member_ids(*, tag_id: int, after: int, limit: int) -> list[int]:
    """The next ``limit`` active members with the tag, after member id ``after``."""
    sql = _CHUNK_SQL.format(member_tags=MemberTag._meta.db_table, members=Member._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(sql, [tag_id, after, after, limit])
        return [row[0] for row in cursor.fetchall()]


_CLAIMS_TAKE_SQL = """
INSERT INTO {claims} (member_id, campaign_id, claimed)
SELECT mt.member_id, %s, 1
FROM {member_tags} mt JOIN {members} m ON m.id = mt.member_id
WHERE mt.tag_id = %s AND mt.member_id > %s AND mt.member_id <= %s
    AND m.id > %s AND m.id <= %s AND m.is_active
ON CONFLICT (campaign_id, member_id) DO UPDATE SET claimed = {claims}.claimed + 1
WHERE {claims}.claimed = 0
RETURNING member_id
"""


def _claims_take(*, campaign_id: int, tag_id: int, after: int, upto: int) -> list[int]:
    """Raise the claim counter of the chunk's members who hold no coupon of the campaign.

    One statement; the rows it touches stay locked until the chunk commits, so an online claim
    by the same member waits and then sees the counter.
    """
    sql = _CLAIMS_TAKE_SQL.format(
        claims=MemberCampaignClaims._meta.db_table,
        member_tags=MemberTag._meta.db_table,
        members=Member._meta.db_table,
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [campaign_id, tag_id, after, upto, after, upto])
        return sorted(row[0] for row in cursor.fetchall())


def _stock_take(*, campaign_id: int, wanted: int) -> int:
    """Take up to ``wanted`` from the campaign's stock; returns how many were taken."""
    while wanted:
        remaining = Campaign.objects.filter(pk=campaign_id).values_list(
            "remaining_stock", flat=True
        )[0]
        take = min(wanted, remaining)
        if take == 0:
            return 0
        if Campaign.objects.filter(pk=campaign_id, remaining_stock__gte=take).update(
            remaining_stock=F("remaining_stock") - take
        ):
            return take
        # Online claims moved the stock between the read and the update: read it again.
    return 0


def targeted_issue_run(
    *,
    issue_id: int,
    chunk_size: int = CHUNK_SIZE,
    deadline: float | None = None,
) -> TargetedIssue:
    """Issue the coupons of a targeted issue, chunk by chunk, until done, out of stock, or
    ``deadline`` (a ``time.monotonic()`` value) passes; then the issue stays running and a
    further call continues after the last member done.

    Preconditions: the issue is pending or running; a finished one is left as it is.
    Side effects per chunk, in one transaction: claim counters raised, the campaign's stock
    decremented, coupons created with source ``targeted``, the issue's progress written.
    """
    now = timezone.now()
    TargetedIssue.objects.filter(pk=issue_id, status=TargetedIssueStatus.PENDING).update(
        status=TargetedIssueStatus.RUNNING, started_at=now
    )
    while True:
        with transaction.atomic():
            issue = (
                TargetedIssue.objects.select_for_update()
                .select_related("campaign")
                .get(pk=issue_id)
            )
            if issue.status != TargetedIssueStatus.RUNNING:
                return issue
            finished = _issue_chunk(issue, chunk_size=chunk_size)
        if finished or (deadline is not None and time.monotonic() > deadline):
            return issue


def _issue_chunk(issue: TargetedIssue, *, chunk_size: int) -> bool:
    """One chunk, inside the caller's transaction with ``issue`` locked; True when finished."""
    now = timezone.now()
    member_ids = _chunk_member_ids(
        tag_id=issue.tag_id, after=issue.last_member_id, limit=chunk_size
    )
    if not member_ids:
        issue.status = TargetedIssueStatus.DONE
        issue.finished_at = now
        issue.save(update_fields=["status", "finished_at"])
        return True

    eligible = _claims_take(
        campaign_id=issue.campaign_id,
        tag_id=issue.tag_id,
        after=issue.last_member_id,
        upto=member_ids[-1],
    )
    taken = _stock_take(campaign_id=issue.campaign_id, wanted=len(eligible))
    granted, left_out = eligible[:taken], eligible[taken:]
    if left_out:
        MemberCampaignClaims.objects.filter(
            campaign_id=issue.campaign_id, member_id__in=left_out
        ).update(claimed=F("claimed") - 1)
    if granted:
        valid_from, valid_until = coupon_validity(campaign=issue.campaign, now=now)
        Coupon.objects.bulk_create(
            [
                Coupon(
                    campaign_id=issue.campaign_id,
                    member_id=member_id,
                    source=CouponSource.TARGETED,
                    valid_from=valid_from,
                    valid_until=valid_until,
                )
                for member_id in granted
            ],
            batch_size=chunk_size,
        )
        notification_enqueue_many(
            member_ids=granted,
            event=NotificationEvent.COUPON_ISSUED,
            payload={"campaign_name": issue.campaign.name, "valid_until": valid_until},
        )

    issue.members_done += len(member_ids)
    issue.issued += len(granted)
    issue.skipped_already_had += len(member_ids) - len(eligible)
    issue.skipped_no_stock += len(left_out)
    issue.last_member_id = member_ids[-1]
    fields = [
        "members_done",
        "issued",
        "skipped_already_had",
        "skipped_no_stock",
        "last_member_id",
    ]
    out_of_stock = bool(left_out)
    if out_of_stock:
        issue.status = TargetedIssueStatus.STOPPED
        issue.stopped_reason = _(
            "Out of stock: %(issued)d members got a coupon, the rest of the tag did not."
        ) % {"issued": issue.issued}
        issue.finished_at = now
        fields += ["status", "stopped_reason", "finished_at"]
    issue.save(update_fields=fields)
    return out_of_stock
