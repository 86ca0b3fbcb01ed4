from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MembersConfig(AppConfig):
    name = "members"
    verbose_name = _("Members")

    def ready(self):
        # Kept apart from members/admin.py: the notification queue has its own admin module.
        from members import notification_admin  # noqa: F401
