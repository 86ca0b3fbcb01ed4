from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q
from django.db.models.functions import Now
from django.utils.translation import gettext_lazy as _


class Gender(models.TextChoices):
    UNKNOWN = "", _("Unknown")
    MALE = "M", _("Male")
    FEMALE = "F", _("Female")


class Tag(models.Model):
    """A label on members that campaigns and deals can target."""

    slug = models.SlugField(_("slug"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=64)
    description = models.CharField(_("description"), max_length=255, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("tag")
        verbose_name_plural = _("tags")
        ordering = ["slug"]

    def __str__(self):
        return self.name


class MemberQuerySet(models.QuerySet):
    def active(self):
        return self.filter(is_active=True)


class Member(models.Model):
    """A shopper of the mini-program, identified by their WeChat openid.

    ``openid``, ``unionid`` and ``session_key`` are secrets of the WeChat session: they never
    leave the server.
    """

    member_no = models.CharField(_("member number"), max_length=20, unique=True)
    openid = models.CharField(max_length=64, unique=True)
    unionid = models.CharField(max_length=64, null=True, blank=True, unique=True)
    session_key = models.CharField(max_length=64, blank=True)
    nickname = models.CharField(_("nickname"), max_length=32, blank=True)
    avatar_url = models.URLField(_("avatar URL"), max_length=500, blank=True)
    gender = models.CharField(_("gender"), max_length=1, choices=Gender.choices, blank=True)
    birth_date = models.DateField(_("birth date"), null=True, blank=True)
    # Unique so that one phone, and through it one legacy card, belongs to one member.
    phone = models.CharField(_("phone"), max_length=20, null=True, blank=True, unique=True)
    phone_bound_at = models.DateTimeField(_("phone bound at"), null=True, blank=True)
    level = models.CharField(_("level"), max_length=32, blank=True)
    points = models.IntegerField(_("points"), default=0)
    tags = models.ManyToManyField(Tag, related_name="members", blank=True, verbose_name=_("tags"))
    is_active = models.BooleanField(_("active"), default=True)
    joined_at = models.DateTimeField(_("joined at"), db_default=Now(), db_index=True)
    last_login_at = models.DateTimeField(_("last login at"), null=True, blank=True)

    objects = MemberQuerySet.as_manager()

    class Meta:
        verbose_name = _("member")
        verbose_name_plural = _("members")

    def __str__(self):
        return self.member_no

    @property
    def masked_phone(self):
        return mask_phone(self.phone)


def mask_phone(phone):
    """``13800138000`` → ``138****8000``; shoppers and cashiers only ever see this form."""
    if not phone:
        return None
    if len(phone) < 7:
        return "*" * len(phone)
    return f"{phone[:3]}****{phone[-4:]}"


class MemberNumberSequence(models.Model):
    """The source of member numbers where the database has no sequences (SQLite).

    PostgreSQL uses the ``members_member_no_seq`` sequence instead; see
    ``members.services.member_number_next``.
    """

    class Meta:
        verbose_name = _("member number sequence")

    def __str__(self):
        return str(self.pk)


class SubscriptionGrant(models.Model):
    """How many subscribe messages of one template the member has allowed and not yet used.

    WeChat lets a service send one message per template for each time the member accepted that
    template in ``wx.requestSubscribeMessage``. ``remaining`` moves only by conditional
    ``F()`` updates (``members.services.notifications``): up when the member accepts, down when
    a message is about to be sent, back up when WeChat did not deliver it.
    """

    member = models.ForeignKey(
        Member,
        on_delete=models.CASCADE,
        related_name="subscription_grants",
        verbose_name=_("member"),
    )
    template_id = models.CharField(_("template id"), max_length=64)
    remaining = models.PositiveIntegerField(_("grants left"), default=0)
    accepted_total = models.PositiveIntegerField(_("times accepted"), default=0)
    updated_at = models.DateTimeField(_("updated at"), db_default=Now())

    class Meta:
        verbose_name = _("subscription grant")
        verbose_name_plural = _("subscription grants")
        constraints = [
            models.UniqueConstraint(
                fields=["member", "template_id"], name="subscription_grant_member_template_unique"
            ),
        ]

    def __str__(self):
        return f"{self.member_id}/{self.template_id}: {self.remaining}"


class NotificationEvent(models.TextChoices):
    COUPON_REDEEMED = "coupon_redeemed", _("Coupon redeemed")
    COUPONS_EXPIRING = "coupons_expiring", _("Coupons expiring soon")
    DEAL_STARTING = "deal_starting", _("Flash deal starting")
    DEAL_ORDER_PAID = "deal_order_paid", _("Flash order paid")
    DEAL_ORDER_CANCELLED = "deal_order_cancelled", _("Flash order cancelled")
    CROSS_SELL = "cross_sell", _("Cross-sell offer")


class NotificationState(models.TextChoices):
    PENDING = "pending", _("Pending")
    # Claimed by a worker that is calling WeChat right now.
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Sent")
    SKIPPED_NO_GRANT = "skipped_no_grant", _("Skipped: no grant left")
    SKIPPED_USER_REFUSED = "skipped_user_refused", _("Skipped: the member refused")
    FAILED = "failed", _("Failed")


class NotificationQuerySet(models.QuerySet):
    def due(self, now):
        """Pending notifications whose next attempt is due at ``now``."""
        return self.filter(state=NotificationState.PENDING, next_attempt_at__lte=now)

    def stale_sending(self, claimed_before):
        """Claimed by a worker before ``claimed_before`` and never finished: the worker died."""
        return self.filter(state=NotificationState.SENDING, claimed_at__lt=claimed_before)


class Notification(models.Model):
    """One WeChat subscribe message to one member: the outbox row.

    Written in the same transaction as the event that causes it, so that a notification is
    never lost when the broker or WeChat is down; sent by ``notification_send`` in a Celery
    worker. See ``members.services.notifications`` for the state machine.
    """

    member = models.ForeignKey(
        Member, on_delete=models.CASCADE, related_name="notifications", verbose_name=_("member")
    )
    event = models.CharField(_("event"), max_length=32, choices=NotificationEvent.choices)
    template_id = models.CharField(_("template id"), max_length=64)
    payload = models.JSONField(_("payload"), default=dict, encoder=DjangoJSONEncoder)
    # Makes periodic events idempotent: one coupons-expiring digest per member per day.
    dedupe_key = models.CharField(_("deduplication key"), max_length=64, blank=True, default="")
    state = models.CharField(
        _("state"),
        max_length=24,
        choices=NotificationState.choices,
        default=NotificationState.PENDING,
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True)
    created_at = models.DateTimeField(_("created at"), db_default=Now())
    # When a pending notification may be sent (again): the periodic dispatcher picks up
    # pending rows some time after this, in case their Celery message never arrived.
    next_attempt_at = models.DateTimeField(_("next attempt at"), db_default=Now())
    claimed_at = models.DateTimeField(_("claimed at"), null=True, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)

    objects = NotificationQuerySet.as_manager()

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        constraints = [
            models.UniqueConstraint(
                fields=["member", "event", "dedupe_key"],
                condition=~Q(dedupe_key=""),
                name="notification_dedupe_unique",
            ),
        ]
        indexes = [
            models.Index(fields=["state", "next_attempt_at"], name="notification_state_due_idx"),
            models.Index(fields=["member", "-created_at"], name="notification_member_idx"),
            models.Index(fields=["created_at", "template_id"], name="notification_created_idx"),
        ]

    def __str__(self):
        return f"{self.event} → {self.member_id} ({self.state})"
