"""Django admin for members, one module per area; importing them registers their ModelAdmins
when admin autodiscovery imports ``members.admin``."""

from members.admin import accounts, legacy, notifications  # noqa: F401
