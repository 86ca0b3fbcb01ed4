"""Targeted issue: one coupon of a campaign to every member with a tag, in chunks."""

import pytest
from django.urls import reverse

from coupons.models import Campaign, Coupon, CouponSource, MemberCampaignClaims
from members.exceptions import TargetedIssueNotAllowedError
from members.models import TargetedIssue, TargetedIssueStatus
from members.services.targeted_issues import targeted_issue_create, targeted_issue_run
from tests.factories import CampaignFactory, MemberFactory, TagFactory


def tagged_members(tag, count, **kwargs):
    members = [MemberFactory(**kwargs) for _ in range(count)]
    for member in members:
        member.tags.add(tag)
    return members


def run(campaign, tag, *, chunk_size=3):
    issue = targeted_issue_create(campaign=campaign, tag=tag, run_in_background=False)
    return targeted_issue_run(issue_id=issue.pk, chunk_size=chunk_size)


@pytest.mark.django_db
def test_every_member_with_the_tag_gets_one_coupon_in_chunks():
    # given seven tagged members, one inactive, and an untagged member
    tag = TagFactory(slug="vip")
    members = tagged_members(tag, 7)
    inactive = tagged_members(tag, 1, is_active=False)[0]
    outsider = MemberFactory()
    campaign = CampaignFactory(total_stock=100)

    # when issued three members at a time
    issue = run(campaign, tag, chunk_size=3)

    # then each active tagged member holds exactly one targeted coupon with the campaign's validity
    assert (issue.status, issue.members_total, issue.members_done, issue.issued) == (
        TargetedIssueStatus.DONE,
        7,
        7,
        7,
    )
    coupons = Coupon.objects.filter(campaign=campaign)
    assert sorted(coupons.values_list("member_id", flat=True)) == sorted(m.pk for m in members)
    assert set(coupons.values_list("source", flat=True)) == {CouponSource.TARGETED}
    coupon = coupons.first()
    assert (coupon.valid_until - coupon.valid_from).days >= 7
    assert not Coupon.objects.filter(member__in=[inactive, outsider]).exists()
    campaign.refresh_from_db()
    assert campaign.remaining_stock == 93
    assert set(
        MemberCampaignClaims.objects.filter(campaign=campaign).values_list("claimed", flat=True)
    ) == {1}


@pytest.mark.django_db
def test_issuing_twice_gives_nobody_a_second_coupon():
    tag = TagFactory(slug="vip")
    tagged_members(tag, 5)
    campaign = CampaignFactory(total_stock=100)
    run(campaign, tag)

    second = run(campaign, tag)

    assert (second.issued, second.skipped_already_had) == (0, 5)
    assert Coupon.objects.filter(campaign=campaign).count() == 5
    campaign.refresh_from_db()
    assert campaign.remaining_stock == 95


@pytest.mark.django_db
def test_a_member_who_already_claimed_the_coupon_online_is_skipped():
    tag = TagFactory(slug="vip")
    claimed_online, fresh = tagged_members(tag, 2)
    campaign = CampaignFactory(total_stock=100)
    MemberCampaignClaims.objects.create(member=claimed_online, campaign=campaign, claimed=1)

    issue = run(campaign, tag)

    assert (issue.issued, issue.skipped_already_had) == (1, 1)
    assert list(Coupon.objects.values_list("member_id", flat=True)) == [fresh.pk]


@pytest.mark.django_db
def test_the_issue_stops_cleanly_when_the_stock_runs_out():
    # given eight tagged members and five coupons left
    tag = TagFactory(slug="vip")
    members = tagged_members(tag, 8)
    campaign = CampaignFactory(total_stock=10, remaining_stock=5)

    # when issued three at a time
    issue = run(campaign, tag, chunk_size=3)

    # then the first five (in member order) got one, the rest did not, and it says so
    assert issue.status == TargetedIssueStatus.STOPPED
    assert (issue.issued, issue.skipped_no_stock) == (5, 1)
    assert "5" in issue.stopped_reason
    holders = sorted(Coupon.objects.values_list("member_id", flat=True))
    assert holders == sorted(m.pk for m in members)[:5]
    assert Campaign.objects.get(pk=campaign.pk).remaining_stock == 0
    # The member beyond the stock keeps a counter of 0: a later online claim is still open.
    left_out = sorted(m.pk for m in members)[5]
    assert MemberCampaignClaims.objects.get(campaign=campaign, member_id=left_out).claimed == 0


@pytest.mark.django_db
def test_a_paused_campaign_cannot_be_issued():
    with pytest.raises(TargetedIssueNotAllowedError):
        targeted_issue_create(
            campaign=CampaignFactory(is_paused=True), tag=TagFactory(), run_in_background=False
        )


@pytest.mark.django_db
def test_a_finished_issue_run_again_does_nothing():
    tag = TagFactory(slug="vip")
    tagged_members(tag, 2)
    issue = run(CampaignFactory(), tag)

    again = targeted_issue_run(issue_id=issue.pk)

    assert (again.status, again.issued) == (TargetedIssueStatus.DONE, 2)
    assert Coupon.objects.count() == 2


@pytest.mark.django_db
def test_a_marketer_issues_to_a_tag_from_admin_and_sees_the_progress(
    admin_client, django_capture_on_commit_callbacks
):
    tag = TagFactory(slug="vip")
    tagged_members(tag, 3)
    campaign = CampaignFactory()

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            reverse("admin:members_targetedissue_add"), {"campaign": campaign.pk, "tag": tag.pk}
        )

    assert response.status_code == 302
    issue = TargetedIssue.objects.get()
    assert (issue.status, issue.issued) == (TargetedIssueStatus.DONE, 3)
    page = admin_client.get(response["Location"])
    assert page.status_code == 200
    assert "100%" in page.content.decode()
    assert admin_client.get(reverse("admin:members_targetedissue_changelist")).status_code == 200


@pytest.mark.django_db
def test_recipients_holding_a_grant_are_told_through_the_outbox_once(
    wechat_sandbox, django_capture_on_commit_callbacks
):
    from members.models import Notification, NotificationEvent
    from tests.factories import SubscriptionGrantFactory

    tag = TagFactory(slug="told")
    with_grant, without_grant = tagged_members(tag, 2)
    SubscriptionGrantFactory(member=with_grant, template_id="tmpl-coupon-issued", remaining=1)
    campaign = CampaignFactory(total_stock=10, name="会员日满50减10")

    with django_capture_on_commit_callbacks(execute=True):
        run(campaign, tag, chunk_size=1)
        run(campaign, tag, chunk_size=1)

    notification = Notification.objects.get()
    assert (notification.member_id, notification.event) == (
        with_grant.pk,
        NotificationEvent.COUPON_ISSUED,
    )
    [message] = wechat_sandbox.messages(touser=with_grant.openid)
    assert message["data"]["thing1"]["value"] == "会员日满50减10"
    assert wechat_sandbox.messages(touser=without_grant.openid) == []
