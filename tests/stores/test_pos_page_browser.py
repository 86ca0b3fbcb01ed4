"""The cashier page in a real headless Chromium against the live server.

A cashier signs in, scans codes by typing them into the focused field and pressing Enter (as
a handheld scanner does), previews, confirms, voids; refusals and members are shown.
"""

import datetime
import re

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from backend.rotating_codes import rotating_code_issue
from coupons.models import Campaign, CampaignKind, CouponSource, Redemption
from coupons.services.coupons import coupon_issue
from members.models import Member, Tag
from stores.models import StaffProfile, StaffRole, Store
from tests import browser
from tests.browser import DESKTOP, PHONE, screenshot

chromium = browser.chromium

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _store(code, name):
    return Store.objects.create(
        code=code,
        name=name,
        address="深圳市福田区福华三路88号",
        city="深圳",
        latitude=22.5362,
        longitude=114.0553,
    )


def _cashier(store, username="cashier1"):
    user = get_user_model().objects.create_user(username=username, password=username)
    StaffProfile.objects.create(user=user, role=StaffRole.CASHIER, store=store)
    return user


def _campaign(name, *, stores=None, **fields):
    now = timezone.now()
    values = {
        "kind": CampaignKind.AMOUNT_OFF,
        "amount_off_fen": 1000,
        "min_spend_fen": 5000,
        "claim_starts_at": now - datetime.timedelta(days=1),
        "claim_ends_at": now + datetime.timedelta(days=30),
        "valid_days": 7,
        "total_stock": 100,
        "remaining_stock": 99,
        "all_stores": not stores,
        **fields,
    }
    campaign = Campaign.objects.create(name=name, **values)
    if stores:
        campaign.stores.set(stores)
    return campaign


_member_seq = iter(range(1, 10_000))


def _member(**fields):
    n = next(_member_seq)
    return Member.objects.create(
        member_no=fields.pop("member_no", f"88000000{n:04d}"),
        openid=f"browser-openid-{n}",
        nickname=fields.pop("nickname", f"会员{n}"),
        **fields,
    )


def _coupon_code(campaign, member=None):
    coupon = coupon_issue(member=member or _member(), campaign=campaign, source=CouponSource.CLAIM)
    return rotating_code_issue(kind="C", object_id=coupon.pk).code


@pytest.fixture
def till(live_server):
    """Store S001 with cashier1, and S002 (for a coupon S001 does not accept)."""
    store = _store("S001", "惠邻鲜超 福田中心店")
    other = _store("S002", "惠邻鲜超 南山海岸城店")
    return {
        "url": live_server.url,
        "store": store,
        "other_store": other,
        "cashier": _cashier(store),
    }


def _sign_in(page, url, username="cashier1"):
    page.goto(f"{url}/pos/")
    page.fill("#login-username", username)
    page.fill("#login-password", username)
    page.click("#login-submit")
    page.wait_for_selector("#till-view:not([hidden])")


def _scan(page, code):
    """What a handheld scanner does: type into whatever has focus, then Enter."""
    page.keyboard.type(code)
    page.keyboard.press("Enter")


def _active_id(page):
    return page.evaluate("document.activeElement && document.activeElement.id")


def test_cashier_redeems_once_on_a_double_tap_sees_it_today_and_voids_it(chromium, till):
    # given a 满50减10 coupon and a cashier signed in at S001
    code = _coupon_code(_campaign("满50减10"))
    page = chromium.new_page(viewport=DESKTOP)
    _sign_in(page, till["url"])
    assert page.inner_text("#shift-store") == "惠邻鲜超 福田中心店"
    assert page.inner_text("#shift-cashier") == "cashier1"
    assert _active_id(page) == "scan"
    screenshot(page, "pos-1-signed-in")

    # when the basket is 58.50 yuan and the coupon is scanned
    page.fill("#amount", "58.50")
    page.press("#amount", "Enter")
    assert _active_id(page) == "scan"
    _scan(page, code)

    # then the preview shows the discount and what to pay
    page.wait_for_selector("#result[data-phase=previewed]")
    result = page.inner_text("#result")
    assert "满50减10" in result
    assert "-¥10.00" in result
    assert "¥48.50" in result
    screenshot(page, "pos-2-preview")

    # when the cashier taps confirm twice quickly
    page.dblclick("#confirm")
    page.wait_for_selector("#result[data-phase=done]")

    # then exactly one redemption exists, for 5850 fen with 1000 off, and it is listed today
    assert Redemption.objects.count() == 1
    redemption = Redemption.objects.get()
    assert (redemption.order_amount_fen, redemption.discount_fen) == (5850, 1000)
    assert redemption.store_id == till["store"].pk
    assert f"#{redemption.pk}" in page.inner_text("#result")
    page.wait_for_selector(f".today-row[data-redemption-id='{redemption.pk}']")
    assert page.locator(".today-row").count() == 1
    assert page.inner_text("#total-count") == "1"
    assert page.inner_text("#total-discount") == "¥10.00"
    assert _active_id(page) == "scan"
    screenshot(page, "pos-3-redeemed")

    # when the cashier voids it with a reason
    page.click(".today-void")
    page.wait_for_selector("#void-dialog:not([hidden])")
    page.click(".chip[data-reason='顾客退货']")
    screenshot(page, "pos-4-void-dialog", full_page=False)
    page.click("#void-confirm")

    # then it is voided in the database and shown as voided, and the focus is back on the scan
    page.wait_for_selector(".today-row-voided")
    redemption.refresh_from_db()
    assert redemption.voided_at is not None
    assert redemption.void_reason == "顾客退货"
    assert page.inner_text("#total-voided") == "1"
    assert page.inner_text("#total-count") == "0"
    assert page.locator(".today-void").count() == 0
    assert _active_id(page) == "scan"
    screenshot(page, "pos-5-voided")

    # and signing out forgets the token kept for this tab
    page.click("#sign-out")
    page.wait_for_selector("#login-view:not([hidden])")
    assert page.evaluate("sessionStorage.getItem('pos.session')") is None


def test_retry_after_a_lost_answer_and_a_reload_redeems_once_with_the_same_key(chromium, till):
    # given a coupon previewed at the till
    code = _coupon_code(_campaign("满50减10"))
    page = chromium.new_page(viewport=DESKTOP)
    _sign_in(page, till["url"])
    page.fill("#amount", "60")
    page.press("#amount", "Enter")
    _scan(page, code)
    page.wait_for_selector("#result[data-phase=previewed]")
    key = page.evaluate("JSON.parse(sessionStorage.getItem('pos.attempt')).key")
    sent_keys = []

    def lose_the_answer(route):
        # The server redeems, but the answer never reaches the till (a network blip).
        sent_keys.append(route.request.headers.get("idempotency-key"))
        route.fetch()
        route.abort("connectionreset")

    page.route(re.compile(r".*/api/pos/redemptions$"), lose_the_answer)

    # when confirming loses the answer
    page.click("#confirm")
    page.wait_for_selector("#result[data-phase=confirm_failed]")
    assert "网络连接失败" in page.inner_text("#result")
    assert Redemption.objects.count() == 1
    screenshot(page, "pos-6-answer-lost")

    # and the page is reloaded in the middle of it
    page.unroute(re.compile(r".*/api/pos/redemptions$"))
    page.reload()
    page.wait_for_selector("#result[data-phase=confirm_failed]")
    assert page.input_value("#amount") == "60.00"
    assert page.evaluate("JSON.parse(sessionStorage.getItem('pos.attempt')).key") == key

    # then Enter on the empty scan field retries with the same key and shows the first
    # redemption, still only one
    assert _active_id(page) == "scan"
    page.keyboard.press("Enter")
    page.wait_for_selector("#result[data-phase=done]")
    assert sent_keys == [key]
    assert Redemption.objects.count() == 1
    assert Redemption.objects.get().idempotency_key == key
    assert f"#{Redemption.objects.get().pk}" in page.inner_text("#result")
    screenshot(page, "pos-7-retried")


def test_wrong_store_and_minimum_spend_are_refused_in_words_at_360_px(chromium, till):
    # given a coupon accepted only at S002 and a 满50减10 coupon
    wrong_store = _coupon_code(_campaign("南山专享券", stores=[till["other_store"]]))
    min_spend = _coupon_code(_campaign("满50减10"))
    page = chromium.new_page(viewport=PHONE)
    _sign_in(page, till["url"])
    preview = re.compile(r".*/api/pos/redemptions/preview$")
    page.route(preview, lambda route: route.fulfill(status=502, body="Bad Gateway"))

    # when the S002 coupon is scanned at S001 while the server answers 502
    page.fill("#amount", "80")
    page.press("#amount", "Enter")
    _scan(page, wrong_store)

    # then the failure is explained, the amount is kept, and a retry can follow
    page.wait_for_selector("#result[data-phase=preview_failed]")
    assert "服务器暂时无法处理（错误 502）" in page.inner_text("#result")
    assert page.input_value("#amount") == "80.00"
    screenshot(page, "pos-8a-server-error-360")
    page.unroute(preview)
    page.click("#result-retry")

    # then the cashier reads why, in red, and nothing is redeemed
    page.wait_for_selector("#result[data-phase=refused]")
    assert "本店不可用此券" in page.inner_text("#result")
    assert page.locator("#confirm").count() == 0
    screenshot(page, "pos-8-wrong-store-360")

    # when a 满50减10 coupon is scanned for a 38 yuan basket
    page.fill("#amount", "38")
    page.press("#amount", "Enter")
    _scan(page, min_spend)

    # then the page says how much more to buy
    page.wait_for_function(
        "document.querySelector('#result').innerText.includes('还差 12.00 元满减')"
    )
    assert page.get_attribute("#result", "data-phase") == "refused"
    assert Redemption.objects.count() == 0
    screenshot(page, "pos-9-min-spend-360")

    # and an amount with three decimals is refused before anything is sent
    page.fill("#amount", "12.345")
    page.press("#amount", "Enter")
    assert "两位小数" in page.inner_text("#amount-error")


def test_member_code_identifies_the_member(chromium, till):
    # given a member with a phone, a level and two tags
    member = _member(nickname="王小明", phone="13800138000", level="金卡", points=1280)
    member.tags.set(
        [
            Tag.objects.create(slug="new-member", name="新会员"),
            Tag.objects.create(slug="near-s001", name="福田中心店3公里内"),
        ]
    )
    code = rotating_code_issue(kind="M", object_id=member.pk).code
    page = chromium.new_page(viewport=PHONE)

    # (a wrong password is refused in words first)
    page.goto(f"{till['url']}/pos/")
    page.fill("#login-username", "cashier1")
    page.fill("#login-password", "wrong")
    page.click("#login-submit")
    page.wait_for_selector("#login-error:not([hidden])")
    assert page.inner_text("#login-error") == "用户名或密码错误"
    screenshot(page, "pos-0-sign-in-refused-360")
    _sign_in(page, till["url"])

    # when the member code is scanned
    _scan(page, code)

    # then the member's number, masked phone, level and tags show
    page.wait_for_selector(".member-found")
    card = page.inner_text("#member")
    assert member.member_no in card
    assert "138****8000" in card
    assert "13800138000" not in card
    assert "金卡" in card
    assert "新会员" in card
    assert "福田中心店3公里内" in card
    assert _active_id(page) == "scan"
    screenshot(page, "pos-10-member-360")
