"""Demo coupons for ``manage.py seed_demo``, idempotent by name and title.

- campaigns, one of every kind;
- flash deals: a live one-cent deal (stock 100) selling a gift voucher accepted at every store;
  the same kind of deal starting in an hour (moved to an hour ahead while nobody has grabbed
  it); a free deal for members who have bound their phone.
"""

import datetime
import sys

from django.db import transaction
from django.utils import timezone

from coupons.models import Audience, Campaign, CampaignKind, FlashDeal
from coupons.services import flash_deals as flash_deal_services
from coupons.services.coupons import campaign_create
from stores.models import Store

GIFT_STORE_CODE = "S001"
VOUCHER_NAME = "一分钱爆款 · 海天酱油 500ml 兑换券"
LIVE_TITLE = "一分钱抢海天酱油"
UPCOMING_TITLE = "一分钱抢金龙鱼食用油"
FREE_TITLE = "绑定手机免费领鸡蛋"


def _business_day_start(date: datetime.date) -> datetime.datetime:
    return datetime.datetime.combine(
        date, datetime.time.min, tzinfo=timezone.get_default_timezone()
    )


def _campaigns(today: datetime.date) -> list[dict]:
    open_from = _business_day_start(today - datetime.timedelta(days=1))
    open_until = _business_day_start(today + datetime.timedelta(days=60))
    tomorrow_10am = _business_day_start(today + datetime.timedelta(days=1)) + datetime.timedelta(
        hours=10
    )
    return [
        {
            "name": "满50减10",
            "description": "全场通用，满50元立减10元",
            "kind": CampaignKind.AMOUNT_OFF,
            "amount_off_fen": 1000,
            "min_spend_fen": 5000,
            "claim_starts_at": open_from,
            "claim_ends_at": open_until,
            "valid_days": 7,
            "total_stock": 1000,
        },
        {
            "name": "9折券 最高减20元",
            "description": "全场9折，最多优惠20元",
            "kind": CampaignKind.PERCENT_OFF,
            "percent_off": 10,
            "max_discount_fen": 2000,
            "claim_starts_at": open_from,
            "claim_ends_at": open_until,
            "valid_days": 14,
            "total_stock": 500,
        },
        {
            "name": "到店领环保购物袋",
            "description": "S001门店专享，消费满20元赠环保购物袋一个",
            "kind": CampaignKind.GIFT,
            "gift_description": "环保购物袋 1 个",
            "min_spend_fen": 2000,
            "claim_starts_at": open_from,
            "claim_ends_at": open_until,
            "valid_from": open_from,
            "valid_until": open_until,
            "total_stock": 200,
            "stores_codes": [GIFT_STORE_CODE],
        },
        {
            "name": "明日开抢 满100减20",
            "description": "明天上午10点开始领取",
            "kind": CampaignKind.AMOUNT_OFF,
            "amount_off_fen": 2000,
            "min_spend_fen": 10000,
            "claim_starts_at": tomorrow_10am,
            "claim_ends_at": open_until,
            "valid_days": 7,
            "total_stock": 300,
        },
        {
            "name": "新人专享 满30减15",
            "description": "注册30天内的新会员可领",
            "kind": CampaignKind.AMOUNT_OFF,
            "amount_off_fen": 1500,
            "min_spend_fen": 3000,
            "claim_starts_at": open_from,
            "claim_ends_at": open_until,
            "valid_days": 30,
            "total_stock": 1000,
            "audience": Audience.NEW_MEMBERS,
            "new_member_days": 30,
        },
    ]


def seed(stdout=None) -> None:
    stdout = stdout or sys.stdout
    _campaigns_seed(stdout=stdout)
    _deals_seed(stdout=stdout)


def _campaigns_seed(*, stdout) -> list[Campaign]:
    """Create the demo campaigns that do not exist yet (by name); existing ones are kept as
    they are, with their claims. A store list names stores by code; a missing store leaves
    the campaign accepted everywhere."""
    seeded = []
    for spec in _campaigns(timezone.localdate()):
        spec = dict(spec)
        store_codes = spec.pop("stores_codes", None)
        campaign = Campaign.objects.filter(name=spec["name"]).first()
        if campaign is not None:
            seeded.append(campaign)
            continue
        stores = list(Store.objects.filter(code__in=store_codes)) if store_codes else []
        if store_codes and not stores:
            stdout.write(
                f"  coupons: store {', '.join(store_codes)} not found; "
                f"{spec['name']} is accepted at all stores\n"
            )
        with transaction.atomic():
            campaign = campaign_create(campaign=Campaign(**spec, all_stores=not stores))
            if stores:
                campaign.stores.set(stores)
        stdout.write(f"  coupons: campaign {campaign.name} (stock {campaign.total_stock})\n")
        seeded.append(campaign)
    return seeded


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
        return flash_deal_services.deal_create(campaign=campaign, title=title, **fields), True
    # Keep a demo deal on: push its end out when it has passed.
    if deal.ends_at <= now:
        deal = flash_deal_services.deal_update(
            deal=deal, data={"ends_at": now + datetime.timedelta(days=7)}
        )
    return deal, False


def _deals_seed(*, stdout) -> None:
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
        upcoming = flash_deal_services.deal_update(
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
