from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CouponsConfig(AppConfig):
    name = "coupons"
    verbose_name = _("Coupons and flash deals")

    def ready(self):
        # Flash deals keep their admin and tasks in their own modules; register them here so
        # that admin autodiscovery and Celery workers find them.
        from coupons import deal_admin, deal_tasks  # noqa: F401
