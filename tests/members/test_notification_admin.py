import pytest
from django.contrib.auth import get_user_model
from django.db import transaction

from members.models import Notification, NotificationState
from members.services.notifications import notification_enqueue
from tests.factories import MemberFactory, SubscriptionGrantFactory

CHANGELIST = "/admin/members/notification/"
PAYLOAD = {
    "coupon_id": 1,
    "campaign_name": "10 off 50",
    "store_name": "Nanshan",
    "discount_fen": 1000,
    "redeemed_at": "2026-03-01T10:00:00+08:00",
}


@pytest.fixture
def admin_client(client):
    user = get_user_model().objects.create_superuser("marketing", "m@example.com", "pw")
    client.force_login(user)
    return client


def notification(member, state):
    with transaction.atomic():
        row = notification_enqueue(member_id=member.pk, event="coupon_redeemed", payload=PAYLOAD)
    Notification.objects.filter(pk=row.pk).update(state=state, last_error=f"was {state}")
    return row


@pytest.mark.django_db
def test_changelist_shows_the_figures_per_template(admin_client):
    member = MemberFactory()
    notification(member, NotificationState.SENT)
    notification(member, NotificationState.SENT)
    notification(member, NotificationState.SKIPPED_NO_GRANT)
    notification(member, NotificationState.FAILED)

    response = admin_client.get(CHANGELIST)

    assert response.status_code == 200
    [row] = response.context["figures"]
    assert (row["template_id"], row["sent"], row["skipped"], row["failed"]) == (
        "tmpl-coupon-redeemed",
        2,
        1,
        1,
    )


@pytest.mark.django_db
def test_search_by_member_number_and_filter_by_state(admin_client):
    wanted, other = MemberFactory(), MemberFactory()
    mine = notification(wanted, NotificationState.FAILED)
    notification(other, NotificationState.FAILED)
    notification(wanted, NotificationState.SENT)

    response = admin_client.get(CHANGELIST, {"q": wanted.member_no, "state__exact": "failed"})

    assert [n.pk for n in response.context["cl"].result_list] == [mine.pk]


@pytest.mark.django_db
def test_detail_shows_the_payload_and_last_error(admin_client):
    row = notification(MemberFactory(), NotificationState.FAILED)

    response = admin_client.get(f"{CHANGELIST}{row.pk}/change/")

    assert response.status_code == 200
    assert "Nanshan" in response.content.decode()
    assert "was failed" in response.content.decode()


@pytest.mark.django_db
def test_retry_action_sends_failed_notifications_again(
    admin_client, wechat_sandbox, django_capture_on_commit_callbacks
):
    member = MemberFactory()
    SubscriptionGrantFactory(member=member, template_id="tmpl-coupon-redeemed", remaining=1)
    failed = notification(member, NotificationState.FAILED)

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            CHANGELIST, {"action": "retry_failed", "_selected_action": [failed.pk]}
        )

    failed.refresh_from_db()
    assert response.status_code == 302
    assert failed.state == NotificationState.SENT
    assert len(wechat_sandbox.messages(touser=member.openid)) == 1
