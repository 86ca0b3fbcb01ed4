"""factory_boy factories for every model the tests build directly."""

import datetime

import factory
from django.utils import timezone

from coupons.models import Audience, Campaign, CampaignKind, FlashDeal
from members.member_numbers import member_number_next
from members.models import Member, Tag
from stores.models import Store


class TagFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tag
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"tag-{n}")
    name = factory.LazyAttribute(lambda o: o.slug)


class MemberFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Member

    member_no = factory.LazyFunction(member_number_next)
    openid = factory.Sequence(lambda n: f"test-openid-{n}")
    nickname = factory.Sequence(lambda n: f"member {n}")


class StoreFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Store
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"T{n:03d}")
    name = factory.Sequence(lambda n: f"Test store {n}")
    address = "1 Shennan Avenue"
    city = "Shenzhen"
    latitude = 22.5431
    longitude = 114.0579


class CampaignFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Campaign

    name = factory.Sequence(lambda n: f"Campaign {n}")
    kind = CampaignKind.AMOUNT_OFF
    amount_off_fen = 1000
    min_spend_fen = 5000
    claim_starts_at = factory.LazyFunction(lambda: timezone.now() - datetime.timedelta(days=1))
    claim_ends_at = factory.LazyFunction(lambda: timezone.now() + datetime.timedelta(days=30))
    valid_days = 7
    total_stock = 100
    remaining_stock = factory.LazyAttribute(lambda o: o.total_stock)
    audience = Audience.EVERYONE


class FlashDealFactory(factory.django.DjangoModelFactory):
    """A live one-cent deal whose voucher is a gift not claimable online."""

    class Meta:
        model = FlashDeal

    campaign = factory.SubFactory(
        CampaignFactory,
        kind=CampaignKind.GIFT,
        amount_off_fen=None,
        min_spend_fen=0,
        gift_description="A bottle of soy sauce",
        claimable_online=False,
    )
    title = factory.Sequence(lambda n: f"One-cent deal {n}")
    price_fen = 1
    starts_at = factory.LazyFunction(lambda: timezone.now() - datetime.timedelta(minutes=1))
    ends_at = factory.LazyFunction(lambda: timezone.now() + datetime.timedelta(hours=2))
    total_stock = 10
    remaining_stock = factory.LazyAttribute(lambda o: o.total_stock)
    per_member_limit = 1
    payment_window = datetime.timedelta(minutes=5)
