"""factory_boy factories for every model the tests build directly."""

import datetime

import factory
from django.utils import timezone

from coupons.models import (
    Audience,
    Campaign,
    CampaignKind,
    Coupon,
    CouponSource,
    CouponStatus,
    FlashDeal,
    Redemption,
)
from members.member_numbers import member_number_next
from members.models import LegacyCard, Member, SubscriptionGrant, Tag
from stores.models import StaffProfile, StaffRole, Store


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


class UserFactory(factory.django.DjangoModelFactory):
    """A Django user; the password is the username unless given."""

    class Meta:
        model = "auth.User"
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")

    @factory.post_generation
    def password(obj, create, extracted, **kwargs):
        obj.set_password(extracted or obj.username)
        if create:
            obj.save(update_fields=["password"])


class StaffProfileFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = StaffProfile

    user = factory.SubFactory(UserFactory)
    role = StaffRole.CASHIER
    store = factory.SubFactory(StoreFactory)


class CouponFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Coupon

    campaign = factory.SubFactory(CampaignFactory)
    member = factory.SubFactory(MemberFactory)
    source = CouponSource.CLAIM
    status = CouponStatus.UNUSED
    valid_from = factory.LazyFunction(lambda: timezone.now() - datetime.timedelta(days=1))
    valid_until = factory.LazyFunction(lambda: timezone.now() + datetime.timedelta(days=7))


class RedemptionFactory(factory.django.DjangoModelFactory):
    """A live redemption; the coupon it uses is marked used as the service would."""

    class Meta:
        model = Redemption

    coupon = factory.SubFactory(CouponFactory, status=CouponStatus.USED)
    campaign = factory.LazyAttribute(lambda o: o.coupon.campaign)
    store = factory.SubFactory(StoreFactory)
    cashier = factory.SubFactory(UserFactory)
    redeemed_at = factory.LazyFunction(timezone.now)
    order_amount_fen = 6000
    discount_fen = 1000
    receipt_no = factory.Sequence(lambda n: f"R{n:06d}")
    idempotency_key = factory.Sequence(lambda n: f"key-{n}")
    request_fingerprint = "factory"


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


class SubscriptionGrantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SubscriptionGrant

    member = factory.SubFactory(MemberFactory)
    template_id = "tmpl-coupon-redeemed"
    remaining = 1
    accepted_total = factory.LazyAttribute(lambda o: o.remaining)


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
