"""Demo campaigns for ``manage.py seed_demo``: one of every kind, idempotent by name."""

import datetime
import sys

from django.db import transaction
from django.utils import timezone

from coupons.models import Audience, Campaign, CampaignKind
from coupons.services import campaign_create
from stores.models import Store

GIFT_STORE_CODE = "S001"


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


def seed(stdout=None) -> list[Campaign]:
    """Create the demo campaigns that do not exist yet (by name); existing ones are kept as
    they are, with their claims. A store list names stores by code; a missing store leaves
    the campaign accepted everywhere."""
    stdout = stdout or sys.stdout
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
