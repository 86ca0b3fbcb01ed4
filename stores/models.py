from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class StoreQuerySet(models.QuerySet):
    def active(self):
        return self.filter(is_active=True)


class Store(models.Model):
    code = models.CharField(_("code"), max_length=16, unique=True)
    name = models.CharField(_("name"), max_length=64)
    address = models.CharField(_("address"), max_length=255)
    city = models.CharField(_("city"), max_length=32)
    latitude = models.FloatField(_("latitude"))
    longitude = models.FloatField(_("longitude"))
    opening_hours = models.CharField(_("opening hours"), max_length=64, blank=True)
    phone = models.CharField(_("phone"), max_length=20, blank=True)
    is_active = models.BooleanField(_("active"), default=True)

    objects = StoreQuerySet.as_manager()

    class Meta:
        verbose_name = _("store")
        verbose_name_plural = _("stores")
        ordering = ["code"]
        indexes = [
            # The nearby search prefilters on a bounding box of these two columns.
            models.Index(fields=["latitude", "longitude"], name="store_lat_lng_idx"),
        ]

    def __str__(self):
        return f"{self.code} {self.name}"


class StaffRole(models.TextChoices):
    CASHIER = "cashier", _("Cashier")
    STORE_MANAGER = "store_manager", _("Store manager")
    MARKETER = "marketer", _("Marketing admin")


class StaffProfile(models.Model):
    """What a Django user does for the chain: their role and, for store staff, their store."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="staff_profile",
        verbose_name=_("user"),
    )
    role = models.CharField(_("role"), max_length=16, choices=StaffRole.choices)
    store = models.ForeignKey(
        Store,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="staff",
        verbose_name=_("store"),
    )

    class Meta:
        verbose_name = _("staff profile")
        verbose_name_plural = _("staff profiles")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(role="marketer") | models.Q(store__isnull=False),
                name="staff_store_required_for_store_roles",
            ),
        ]

    def __str__(self):
        return f"{self.user} ({self.get_role_display()})"
