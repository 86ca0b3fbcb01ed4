"""Django admin for coupons, one module per area; importing them registers their ModelAdmins
when admin autodiscovery imports ``coupons.admin``."""

from coupons.admin import campaigns, flash_deals  # noqa: F401
