"""Demo flash deals for ``seed_demo``: idempotent by title.

- a live one-cent deal (stock 100) selling a gift voucher accepted at every store;
- the same kind of deal starting in an hour (moved to an hour ahead while nobody has grabbed it);
- a free deal for members who have bound their phone.
"""

import datetime
import sys

from django.utils import timezone

from coupons import deal_services
from coupons.models import Audience, Campaign, CampaignKind, FlashDeal

VOUCHER_NAME = "一分钱爆款 · 海天酱油 500ml 兑换券"
LIVE_TITLE = "一分钱抢海天酱油"
UPCOMING_TITLE = "一分钱抢金龙鱼食用油"
FREE_TITLE = "绑定手机免费领鸡蛋"


def _voucher(*, name, gift, now):
    campaign, _ = Campaign.objects.get_or_create(
        name=name,
        defaults={
            "description": "Flash-deal voucher; bought in the mini-program, not claimable.",
            "kind": CampaignKind.GIFT,
            "gift_description": gift,
            "claimable_online": False,
            "claim_starts_at": now - datetime.timedelta(days=1),
            "claim_ends_at": now + datetime.timedelta(days=365),
            "valid_days": 30,
            "all_stores": True,
            "total_stock": 100000,
            "remaining_stock": 100000,
            "audience": Audience.EVERYONE,
        },
    )
    return campaign


def _deal(*, title, campaign, now, **fields):
    deal = FlashDeal.objects.filter(title=title).first()
    if deal is None:
        return deal_services.deal_create(campaign=campaign, title=title, **fields), True
    # Keep a demo deal on: push its end out when it has passed.
    if deal.ends_at <= now:
        deal = deal_services.deal_update(
            deal=deal, data={"ends_at": now + datetime.timedelta(days=7)}
        )
    return deal, False


def seed(stdout=None):
    stdout = stdout or sys.stdout
    now = timezone.now()
    soy = _voucher(name=VOUCHER_NAME, gift="海天酱油 500ml 一瓶", now=now)
    oil = _voucher(name="一分钱爆款 · 金龙鱼食用油 1L 兑换券", gift="金龙鱼食用油 1L 一桶", now=now)
    eggs = _voucher(name="新会员福利 · 鸡蛋 6 枚兑换券", gift="鲜鸡蛋 6 枚", now=now)

    live, created = _deal(
        title=LIVE_TITLE,
        campaign=soy,
        now=now,
        image_url="https://example.com/deals/soy-sauce.png",
        price_fen=1,
        total_stock=100,
        starts_at=now - datetime.timedelta(minutes=5),
        ends_at=now + datetime.timedelta(days=7),
    )
    stdout.write(f"flash deal {live.title}: {'created' if created else 'kept'} (id {live.pk})\n")

    upcoming, created = _deal(
        title=UPCOMING_TITLE,
        campaign=oil,
        now=now,
        image_url="https://example.com/deals/oil.png",
        price_fen=1,
        total_stock=50,
        starts_at=now + datetime.timedelta(hours=1),
        ends_at=now + datetime.timedelta(days=7),
    )
    if not created and not upcoming.orders.exists():
        upcoming = deal_services.deal_update(
            deal=upcoming,
            data={
                "starts_at": now + datetime.timedelta(hours=1),
                "ends_at": max(upcoming.ends_at, now + datetime.timedelta(days=1)),
            },
        )
    stdout.write(f"flash deal {upcoming.title}: starts {upcoming.starts_at:%Y-%m-%d %H:%M}\n")

    free, created = _deal(
        title=FREE_TITLE,
        campaign=eggs,
        now=now,
        price_fen=0,
        total_stock=200,
        requires_phone=True,
        starts_at=now - datetime.timedelta(minutes=5),
        ends_at=now + datetime.timedelta(days=30),
    )
    stdout.write(f"flash deal {free.title}: {'created' if created else 'kept'} (id {free.pk})\n")
