from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from members.models import Member, Tag
from stores.models import Store


class CampaignKind(models.TextChoices):
    AMOUNT_OFF = "amount_off", _("Amount off above a minimum spend (满减)")
    PERCENT_OFF = "percent_off", _("Percentage off")
    GIFT = "gift", _("Gift item")


class Audience(models.TextChoices):
    EVERYONE = "everyone", _("Everyone")
    NEW_MEMBERS = "new_members", _("New members")
    TAG = "tag", _("Members with a tag")


class Campaign(models.Model):
    """A coupon template: what a coupon gives, who may have it, when and where it is used."""

    name = models.CharField(_("name"), max_length=64)
    description = models.CharField(_("description"), max_length=255, blank=True)
    kind = models.CharField(_("kind"), max_length=16, choices=CampaignKind.choices)
    amount_off_fen = models.PositiveIntegerField(_("amount off (fen)"), null=True, blank=True)
    percent_off = models.PositiveSmallIntegerField(_("percent off"), null=True, blank=True)
    max_discount_fen = models.PositiveIntegerField(
        _("maximum discount (fen)"), null=True, blank=True
    )
    min_spend_fen = models.PositiveIntegerField(_("minimum spend (fen)"), default=0)
    gift_description = models.CharField(_("gift"), max_length=128, blank=True)

    # Shoppers claim online only between these two; a deal's voucher sets claimable_online off.
    claimable_online = models.BooleanField(_("claimable in the mini-program"), default=True)
    claim_starts_at = models.DateTimeField(_("claim starts at"))
    claim_ends_at = models.DateTimeField(_("claim ends at"))

    # Validity: a fixed window, or valid_days from the claim to the end of that business day.
    valid_from = models.DateTimeField(_("valid from"), null=True, blank=True)
    valid_until = models.DateTimeField(_("valid until"), null=True, blank=True)
    valid_days = models.PositiveSmallIntegerField(
        _("valid for days after claim"), null=True, blank=True
    )

    all_stores = models.BooleanField(_("accepted at all stores"), default=True)
    stores = models.ManyToManyField(
        Store, blank=True, related_name="campaigns", verbose_name=_("stores")
    )

    total_stock = models.PositiveIntegerField(_("total stock"))
    # Moved only by conditional F() updates: see coupons.services.
    remaining_stock = models.PositiveIntegerField(_("remaining stock"))
    per_member_limit = models.PositiveSmallIntegerField(_("per-member limit"), default=1)

    audience = models.CharField(
        _("audience"), max_length=16, choices=Audience.choices, default=Audience.EVERYONE
    )
    new_member_days = models.PositiveSmallIntegerField(
        _("new member: joined within days"), default=30
    )
    audience_tag = models.ForeignKey(
        Tag,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("audience tag"),
    )

    is_paused = models.BooleanField(_("paused"), default=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("coupon campaign")
        verbose_name_plural = _("coupon campaigns")
        ordering = ["-claim_starts_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(remaining_stock__lte=models.F("total_stock")),
                name="campaign_remaining_within_total",
            ),
            models.CheckConstraint(
                condition=Q(valid_days__isnull=False)
                | Q(valid_from__isnull=False, valid_until__isnull=False),
                name="campaign_has_validity",
            ),
            models.CheckConstraint(
                condition=Q(percent_off__isnull=True) | Q(percent_off__gte=1, percent_off__lte=99),
                name="campaign_percent_off_in_range",
            ),
        ]

    def __str__(self):
        return self.name

    @property
    def claimed_count(self) -> int:
        return self.total_stock - self.remaining_stock

    def discount_for(self, order_amount_fen: int) -> int:
        """What a coupon of this campaign takes off a basket of ``order_amount_fen``.

        Preconditions: the basket meets ``min_spend_fen`` (the caller refuses it otherwise).
        """
        if self.kind == CampaignKind.AMOUNT_OFF:
            return min(self.amount_off_fen or 0, order_amount_fen)
        if self.kind == CampaignKind.PERCENT_OFF:
            discount = order_amount_fen * (self.percent_off or 0) // 100
            if self.max_discount_fen is not None:
                discount = min(discount, self.max_discount_fen)
            return discount
        return 0

    @property
    def gift(self) -> str | None:
        return self.gift_description if self.kind == CampaignKind.GIFT else None


class CouponStatus(models.TextChoices):
    UNUSED = "unused", _("Unused")
    USED = "used", _("Used")
    # Never stored: a coupon past valid_until reads as expired at once (CouponQuerySet).
    EXPIRED = "expired", _("Expired")


class CouponSource(models.TextChoices):
    CLAIM = "claim", _("Claimed online")
    DEAL = "deal", _("Bought in a flash deal")
    TARGETED = "targeted", _("Issued to a tag")


class CouponQuerySet(models.QuerySet):
    def usable(self, now):
        return self.filter(status=CouponStatus.UNUSED, valid_until__gt=now)

    def expired(self, now):
        return self.filter(status=CouponStatus.UNUSED, valid_until__lte=now)

    def used(self):
        return self.filter(status=CouponStatus.USED)


class Coupon(models.Model):
    campaign = models.ForeignKey(
        Campaign, on_delete=models.PROTECT, related_name="coupons", verbose_name=_("campaign")
    )
    member = models.ForeignKey(
        Member, on_delete=models.PROTECT, related_name="coupons", verbose_name=_("member")
    )
    source = models.CharField(
        _("source"), max_length=16, choices=CouponSource.choices, default=CouponSource.CLAIM
    )
    status = models.CharField(
        _("status"), max_length=8, choices=CouponStatus.choices, default=CouponStatus.UNUSED
    )
    valid_from = models.DateTimeField(_("valid from"))
    valid_until = models.DateTimeField(_("valid until"), db_index=True)
    claimed_at = models.DateTimeField(_("claimed at"), auto_now_add=True)
    redeemed_at = models.DateTimeField(_("redeemed at"), null=True, blank=True)

    objects = CouponQuerySet.as_manager()

    class Meta:
        verbose_name = _("coupon")
        verbose_name_plural = _("coupons")
        indexes = [models.Index(fields=["member", "-claimed_at"], name="coupon_member_claimed_idx")]

    def __str__(self):
        return f"{self.campaign} #{self.pk}"

    def display_status(self, now):
        if self.status == CouponStatus.UNUSED and self.valid_until <= now:
            return CouponStatus.EXPIRED
        return self.status


class MemberCampaignClaims(models.Model):
    """How many coupons of a campaign a member holds: the per-member limit's locked counter."""

    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="+")
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="member_claims")
    claimed = models.PositiveSmallIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "member"], name="member_campaign_claims_unique"
            ),
        ]

    def __str__(self):
        return f"{self.member_id}/{self.campaign_id}: {self.claimed}"


class Redemption(models.Model):
    """A coupon used at a till. A voided redemption stays as a record; the coupon is free again."""

    coupon = models.ForeignKey(
        Coupon, on_delete=models.PROTECT, related_name="redemptions", verbose_name=_("coupon")
    )
    campaign = models.ForeignKey(
        Campaign, on_delete=models.PROTECT, related_name="redemptions", verbose_name=_("campaign")
    )
    store = models.ForeignKey(
        Store, on_delete=models.PROTECT, related_name="redemptions", verbose_name=_("store")
    )
    cashier = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="redemptions",
        verbose_name=_("cashier"),
    )
    redeemed_at = models.DateTimeField(_("redeemed at"), db_index=True)
    order_amount_fen = models.PositiveIntegerField(_("basket amount (fen)"))
    discount_fen = models.PositiveIntegerField(_("discount (fen)"))
    receipt_no = models.CharField(_("receipt number"), max_length=64)
    idempotency_key = models.CharField(_("idempotency key"), max_length=64)
    request_fingerprint = models.CharField(max_length=64)
    voided_at = models.DateTimeField(_("voided at"), null=True, blank=True)
    voided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("voided by"),
    )
    void_reason = models.CharField(_("void reason"), max_length=255, blank=True)

    class Meta:
        verbose_name = _("redemption")
        verbose_name_plural = _("redemptions")
        constraints = [
            # A coupon is redeemed once; after a void it may be redeemed again.
            models.UniqueConstraint(
                fields=["coupon"],
                condition=Q(voided_at__isnull=True),
                name="redemption_one_live_per_coupon",
            ),
            models.UniqueConstraint(
                fields=["cashier", "idempotency_key"], name="redemption_idempotency_key_unique"
            ),
        ]
        indexes = [models.Index(fields=["store", "redeemed_at"], name="redemption_store_time_idx")]

    def __str__(self):
        return f"{self.coupon} @ {self.store.code}"

    @property
    def pay_fen(self):
        return self.order_amount_fen - self.discount_fen


# --- Flash deals ---------------------------------------------------------------------------------


def _default_payment_window():
    return settings.FLASH_ORDER_PAYMENT_WINDOW


class FlashDeal(models.Model):
    """A voucher (a campaign's coupon) sold for ``price_fen`` in a limited stock from a start time.

    ``remaining_stock`` moves only by conditional F() updates in coupons.services.flash_deals;
    the Redis gate in coupons.services.flash_deal_gate mirrors it to refuse the sold-out crowd
    without a query.
    """

    campaign = models.ForeignKey(
        Campaign,
        on_delete=models.PROTECT,
        related_name="flash_deals",
        verbose_name=_("voucher campaign"),
        help_text=_("The coupon template the buyer receives; usually not claimable online."),
    )
    title = models.CharField(_("title"), max_length=64)
    image_url = models.URLField(_("image URL"), max_length=500, blank=True)
    price_fen = models.PositiveIntegerField(
        _("price (fen)"), default=1, help_text=_("0 makes the deal free: no payment.")
    )
    starts_at = models.DateTimeField(_("starts at"), db_index=True)
    ends_at = models.DateTimeField(_("ends at"))
    total_stock = models.PositiveIntegerField(_("total stock"))
    remaining_stock = models.PositiveIntegerField(_("remaining stock"))
    per_member_limit = models.PositiveSmallIntegerField(_("per-member limit"), default=1)
    requires_phone = models.BooleanField(_("bound phone required"), default=False)
    required_tag = models.ForeignKey(
        Tag,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("required tag"),
    )
    payment_window = models.DurationField(_("payment window"), default=_default_payment_window)
    is_paused = models.BooleanField(_("paused"), default=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    # Part of the Redis gate's key: saving a deal in admin starts a fresh gate from the database.
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("flash deal")
        verbose_name_plural = _("flash deals")
        ordering = ["starts_at", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(remaining_stock__lte=models.F("total_stock")),
                name="flash_deal_remaining_within_total",
            ),
            models.CheckConstraint(
                condition=Q(ends_at__gt=models.F("starts_at")),
                name="flash_deal_ends_after_start",
            ),
            models.CheckConstraint(
                condition=Q(per_member_limit__gte=1), name="flash_deal_limit_at_least_one"
            ),
        ]

    def __str__(self):
        return self.title


class FlashOrderStatus(models.TextChoices):
    AWAITING_PAYMENT = "awaiting_payment", _("Awaiting payment")
    PAID = "paid", _("Paid")
    CANCELLED = "cancelled", _("Cancelled")
    REFUNDED = "refunded", _("Refunded")


# The orders that hold stock and count towards the member's limit.
FLASH_ORDER_LIVE_STATUSES = (FlashOrderStatus.AWAITING_PAYMENT, FlashOrderStatus.PAID)


class FlashOrderQuerySet(models.QuerySet):
    def live(self):
        return self.filter(status__in=FLASH_ORDER_LIVE_STATUSES)

    def overdue(self, now):
        return self.filter(status=FlashOrderStatus.AWAITING_PAYMENT, expires_at__lte=now)


class FlashOrder(models.Model):
    """One grab of a deal. ``order_no`` is the ``out_trade_no`` WeChat Pay knows it by.

    The member's limit is the partial unique constraint on (deal, member, slot) over live orders:
    slot runs from 1 to the deal's per-member limit, so a member can never hold more.
    """

    order_no = models.CharField(_("order number"), max_length=32, unique=True)
    deal = models.ForeignKey(
        FlashDeal, on_delete=models.PROTECT, related_name="orders", verbose_name=_("deal")
    )
    member = models.ForeignKey(
        Member, on_delete=models.PROTECT, related_name="flash_orders", verbose_name=_("member")
    )
    slot = models.PositiveSmallIntegerField(_("slot"), default=1)
    status = models.CharField(
        _("status"),
        max_length=16,
        choices=FlashOrderStatus.choices,
        default=FlashOrderStatus.AWAITING_PAYMENT,
    )
    price_fen = models.PositiveIntegerField(_("price (fen)"))
    created_at = models.DateTimeField(_("created at"))
    expires_at = models.DateTimeField(_("payment due by"))
    paid_at = models.DateTimeField(_("paid at"), null=True, blank=True)
    cancelled_at = models.DateTimeField(_("cancelled at"), null=True, blank=True)
    refunded_at = models.DateTimeField(_("refunded at"), null=True, blank=True)
    transaction_id = models.CharField(_("WeChat transaction id"), max_length=32, blank=True)
    coupon = models.OneToOneField(
        Coupon,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="flash_order",
        verbose_name=_("coupon"),
    )

    objects = FlashOrderQuerySet.as_manager()

    class Meta:
        verbose_name = _("flash order")
        verbose_name_plural = _("flash orders")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["deal", "member", "slot"],
                condition=Q(status__in=FLASH_ORDER_LIVE_STATUSES),
                name="flash_order_member_limit",
            ),
        ]
        indexes = [
            # The sweep looks for overdue unpaid orders.
            models.Index(
                fields=["expires_at"],
                condition=Q(status=FlashOrderStatus.AWAITING_PAYMENT),
                name="flash_order_unpaid_due_idx",
            ),
            models.Index(fields=["deal", "status"], name="flash_order_deal_status_idx"),
            models.Index(fields=["member", "-created_at"], name="flash_order_member_idx"),
        ]

    def __str__(self):
        return self.order_no


class FlashRefundStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    SUCCEEDED = "succeeded", _("Succeeded")


class FlashRefund(models.Model):
    """Money paid for an order that could not be honoured, on its way back to the member.

    Written in the same transaction that decides to refund, then sent to WeChat Pay after commit
    and retried by the sweep until WeChat accepts it (``out_refund_no`` makes retries safe).
    """

    order = models.OneToOneField(
        FlashOrder, on_delete=models.PROTECT, related_name="refund", verbose_name=_("order")
    )
    out_refund_no = models.CharField(_("refund number"), max_length=64, unique=True)
    total_fee = models.PositiveIntegerField(_("paid (fen)"))
    refund_fee = models.PositiveIntegerField(_("refunded (fen)"))
    reason = models.CharField(_("reason"), max_length=255)
    status = models.CharField(
        _("status"),
        max_length=16,
        choices=FlashRefundStatus.choices,
        default=FlashRefundStatus.PENDING,
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    last_error = models.CharField(_("last error"), max_length=255, blank=True)
    refund_id = models.CharField(_("WeChat refund id"), max_length=64, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    succeeded_at = models.DateTimeField(_("succeeded at"), null=True, blank=True)

    class Meta:
        verbose_name = _("flash order refund")
        verbose_name_plural = _("flash order refunds")

    def __str__(self):
        return self.out_refund_no


class DealReminder(models.Model):
    """A member asked to be told when a deal starts (sent by the notifications)."""

    deal = models.ForeignKey(
        FlashDeal, on_delete=models.CASCADE, related_name="reminders", verbose_name=_("deal")
    )
    member = models.ForeignKey(
        Member, on_delete=models.CASCADE, related_name="deal_reminders", verbose_name=_("member")
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)

    class Meta:
        verbose_name = _("deal reminder")
        verbose_name_plural = _("deal reminders")
        constraints = [
            models.UniqueConstraint(fields=["deal", "member"], name="deal_reminder_unique"),
        ]

    def __str__(self):
        return f"{self.deal_id}/{self.member_id}"
