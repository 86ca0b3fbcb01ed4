from django.conf import settings
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
    openid = models.CharField(max_length=128, unique=True)
    unionid = models.CharField(max_length=128, null=True, blank=True, unique=True)
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
    # Where the member last was, rounded to about 100 m, only with their consent; feeds the
    # "near store" tag rules.
    last_lat = models.FloatField(_("last latitude"), null=True, blank=True)
    last_lng = models.FloatField(_("last longitude"), null=True, blank=True)
    location_updated_at = models.DateTimeField(_("location updated at"), null=True, blank=True)
    location_consent = models.BooleanField(_("location consent"), default=False)

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
    COUPON_ISSUED = "coupon_issued", _("Coupon issued to you")
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


# --- Legacy plastic cards, number aliases, tag rules and targeted issues --------------------


class MemberNumberAlias(models.Model):
    """A number that used to be a member's number and still finds them at the POS.

    When a member takes over a legacy card, the card number becomes their member number and
    the generated number they had before is kept here.
    """

    number = models.CharField(_("number"), max_length=20, unique=True)
    member = models.ForeignKey(
        Member, on_delete=models.CASCADE, related_name="number_aliases", verbose_name=_("member")
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("member number alias")
        verbose_name_plural = _("member number aliases")

    def __str__(self):
        return self.number


class LegacyCardQuerySet(models.QuerySet):
    def unclaimed(self):
        return self.filter(claimed_by__isnull=True)


class LegacyCard(models.Model):
    """A plastic-card member of the old system, imported from CSV and upserted by card number.

    ``claimed_by`` is set once, by a conditional update, when a member binds the card's phone.
    """

    # Unique through Meta.constraints: on PostgreSQL ``unique=True`` on a CharField adds a
    # second, pattern-matching index that every imported row would also have to update.
    card_no = models.CharField(_("card number"), max_length=20)
    # NULL, not "": many cards have no phone, and the unique constraint ignores NULLs.
    phone = models.CharField(_("phone"), max_length=11, null=True, blank=True)  # noqa: DJ001
    name = models.CharField(_("name"), max_length=64, blank=True)
    gender = models.CharField(_("gender"), max_length=1, choices=Gender.choices, blank=True)
    birth_date = models.DateField(_("birth date"), null=True, blank=True)
    level = models.CharField(_("level"), max_length=32, blank=True)
    points = models.IntegerField(_("points"), default=0)
    imported_at = models.DateTimeField(_("imported at"))
    updated_at = models.DateTimeField(_("updated at"))
    claimed_by = models.ForeignKey(
        Member,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("claimed by"),
        db_index=False,  # the partial unique index below serves lookups by member
    )
    claimed_at = models.DateTimeField(_("claimed at"), null=True, blank=True)

    objects = LegacyCardQuerySet.as_manager()

    class Meta:
        verbose_name = _("legacy card")
        verbose_name_plural = _("legacy cards")
        constraints = [
            models.UniqueConstraint(fields=["card_no"], name="legacy_card_card_no_unique"),
            # A phone leads to one card, so a phone binding takes over at most one card.
            models.UniqueConstraint(fields=["phone"], name="legacy_card_phone_unique"),
            # A card is taken over once, and a member takes over one card. Partial: millions
            # of unclaimed cards stay out of the index.
            models.UniqueConstraint(
                fields=["claimed_by"],
                condition=models.Q(claimed_by__isnull=False),
                name="legacy_card_claimed_by_unique",
            ),
            models.CheckConstraint(
                condition=models.Q(points__gte=0), name="legacy_card_points_not_negative"
            ),
            models.CheckConstraint(
                condition=models.Q(claimed_by__isnull=True, claimed_at__isnull=True)
                | models.Q(claimed_by__isnull=False, claimed_at__isnull=False),
                name="legacy_card_claimed_by_and_at_together",
            ),
        ]

    def __str__(self):
        return self.card_no


class ImportStatus(models.TextChoices):
    PENDING = "pending", _("Waiting")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class LegacyImport(models.Model):
    """One run of the legacy card import, with the progress the admin page shows."""

    file = models.FileField(_("CSV file"), upload_to="legacy_imports/", blank=True)
    # A file on the server given to `manage.py import_legacy_cards`, read in place.
    source_path = models.CharField(_("server path"), max_length=500, blank=True)
    original_name = models.CharField(_("file name"), max_length=255, blank=True)
    status = models.CharField(
        _("status"), max_length=8, choices=ImportStatus.choices, default=ImportStatus.PENDING
    )
    encoding = models.CharField(_("encoding"), max_length=16, blank=True)
    file_size = models.BigIntegerField(_("file size (bytes)"), default=0)
    bytes_read = models.BigIntegerField(_("bytes read"), default=0)
    rows_read = models.PositiveIntegerField(_("rows read"), default=0)
    imported = models.PositiveIntegerField(_("new cards"), default=0)
    updated = models.PositiveIntegerField(_("updated cards"), default=0)
    unchanged = models.PositiveIntegerField(_("unchanged cards"), default=0)
    rejected = models.PositiveIntegerField(_("rejected rows"), default=0)
    rejects_file = models.FileField(
        _("rejected rows (CSV)"), upload_to="legacy_rejects/", blank=True
    )
    error = models.TextField(_("error"), blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    progress_at = models.DateTimeField(_("progress at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("legacy card import")
        verbose_name_plural = _("legacy card imports")
        ordering = ["-created_at"]

    def __str__(self):
        return self.original_name or f"#{self.pk}"

    @property
    def elapsed_seconds(self):
        if not self.started_at:
            return 0.0
        end = self.finished_at or self.progress_at or self.started_at
        return max((end - self.started_at).total_seconds(), 0.0)

    @property
    def rows_per_second(self):
        elapsed = self.elapsed_seconds
        return self.rows_read / elapsed if elapsed > 0 else None

    @property
    def seconds_left(self):
        """Estimated from the share of the file read so far; None when unknown or finished."""
        if self.status != ImportStatus.RUNNING or not self.bytes_read or not self.file_size:
            return None
        elapsed = self.elapsed_seconds
        if elapsed <= 0:
            return None
        rate = self.bytes_read / elapsed
        return max(self.file_size - self.bytes_read, 0) / rate

    @property
    def percent_done(self):
        if self.status == ImportStatus.DONE:
            return 100
        if not self.file_size:
            return 0
        return min(int(self.bytes_read * 100 / self.file_size), 99)


class TagRuleKind(models.TextChoices):
    NEW_MEMBER = "new_member", _("New member: joined within N days")
    BOUGHT_AT_STORE = "bought_at_store", _("Bought at store: redeemed a coupon there")
    NEAR_STORE = "near_store", _("Near store: last reported location within 3 km")
    DORMANT = "dormant", _("Dormant: no redemption for N days")


class TagRule(models.Model):
    """A rule that decides which members carry ``tag``; re-evaluated nightly.

    The rule owns its tag: evaluation adds the tag to every member that matches and removes it
    from every member that no longer does, so a rule's tag is not also set by hand.
    """

    tag = models.OneToOneField(
        Tag, on_delete=models.CASCADE, related_name="rule", verbose_name=_("tag")
    )
    kind = models.CharField(_("kind"), max_length=16, choices=TagRuleKind.choices)
    days = models.PositiveIntegerField(
        _("days"),
        null=True,
        blank=True,
        help_text=_(
            "New member and dormant: the number of days. Bought at store: optional window."
        ),
    )
    store = models.ForeignKey(
        "stores.Store",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("store"),
    )
    radius_m = models.PositiveIntegerField(_("radius (m)"), default=3000)
    is_active = models.BooleanField(_("active"), default=True)
    last_evaluated_at = models.DateTimeField(_("last evaluated at"), null=True, blank=True)
    last_added = models.PositiveIntegerField(_("added at last evaluation"), default=0)
    last_removed = models.PositiveIntegerField(_("removed at last evaluation"), default=0)

    class Meta:
        verbose_name = _("tag rule")
        verbose_name_plural = _("tag rules")
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(kind__in=["new_member", "dormant"])
                | models.Q(days__isnull=False),
                name="tag_rule_days_required",
            ),
            models.CheckConstraint(
                condition=~models.Q(kind__in=["bought_at_store", "near_store"])
                | models.Q(store__isnull=False),
                name="tag_rule_store_required",
            ),
        ]

    def __str__(self):
        return f"{self.tag}: {self.get_kind_display()}"


class TagAssignmentAction(models.TextChoices):
    ADD = "add", _("Add the tag")
    REMOVE = "remove", _("Remove the tag")


class TagAssignment(models.Model):
    """An admin's bulk tagging: a list or CSV of member or card numbers, and its outcome."""

    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="+", verbose_name=_("tag"))
    action = models.CharField(
        _("action"), max_length=8, choices=TagAssignmentAction.choices, default="add"
    )
    numbers_file = models.FileField(
        _("CSV of member or card numbers"), upload_to="tag_assignments/", blank=True
    )
    numbers = models.TextField(_("member or card numbers"), blank=True)
    numbers_read = models.PositiveIntegerField(_("numbers read"), default=0)
    members_matched = models.PositiveIntegerField(_("members found"), default=0)
    changed = models.PositiveIntegerField(_("members changed"), default=0)
    not_found = models.PositiveIntegerField(_("numbers not found"), default=0)
    not_found_sample = models.TextField(_("some numbers not found"), blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("tag assignment")
        verbose_name_plural = _("tag assignments")
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.get_action_display()} {self.tag} ({self.created_at:%Y-%m-%d %H:%M})"


class TargetedIssueStatus(models.TextChoices):
    PENDING = "pending", _("Waiting")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    STOPPED = "stopped", _("Stopped")
    FAILED = "failed", _("Failed")


class TargetedIssue(models.Model):
    """Issue one coupon of ``campaign`` to every member carrying ``tag``, in chunks.

    ``last_member_id`` is the keyset cursor: a run that is interrupted continues after it, and
    the per-member claim counter makes a second run give nobody a second coupon.
    """

    campaign = models.ForeignKey(
        "coupons.Campaign", on_delete=models.PROTECT, related_name="+", verbose_name=_("campaign")
    )
    tag = models.ForeignKey(Tag, on_delete=models.PROTECT, related_name="+", verbose_name=_("tag"))
    status = models.CharField(
        _("status"),
        max_length=8,
        choices=TargetedIssueStatus.choices,
        default=TargetedIssueStatus.PENDING,
    )
    members_total = models.PositiveIntegerField(_("members with the tag"), default=0)
    members_done = models.PositiveIntegerField(_("members processed"), default=0)
    issued = models.PositiveIntegerField(_("coupons issued"), default=0)
    skipped_already_had = models.PositiveIntegerField(_("skipped: already had one"), default=0)
    skipped_no_stock = models.PositiveIntegerField(_("skipped: out of stock"), default=0)
    stopped_reason = models.CharField(_("stopped because"), max_length=255, blank=True)
    last_member_id = models.BigIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("targeted issue")
        verbose_name_plural = _("targeted issues")
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.campaign} → {self.tag}"
