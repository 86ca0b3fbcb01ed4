from django.db import models
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
