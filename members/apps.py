from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MembersConfig(AppConfig):
    name = "members"
    verbose_name = _("Members")

    def ready(self):
        # Kept apart from members/admin.py, one module per area: the notification queue, and
        # legacy cards, tags and targeted issues.
        from members import legacy_admin, notification_admin  # noqa: F401
