"""factory_boy factories for every model the tests build directly."""

import datetime

import factory
from django.utils import timezone

from coupons.models import Audience, Campaign, CampaignKind
from members.member_numbers import member_number_next
from members.models import LegacyCard, Member, Tag
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


class LegacyCardFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LegacyCard

    card_no = factory.Sequence(lambda n: f"66{n:010d}")
    phone = factory.Sequence(lambda n: f"139{n:08d}")
    name = "王芳"
    level = "gold"
    points = 1200
    imported_at = factory.LazyFunction(timezone.now)
    updated_at = factory.LazyFunction(timezone.now)
