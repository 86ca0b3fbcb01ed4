"""The Django groups that give staff their admin rights, by role.

Marketing admins manage campaigns and see coupons, redemptions, stores, members and tags, and
nothing else in admin. Store managers see campaigns, coupons, redemptions and stores, each
confined to their own store by ``stores.admin.StoreScopedAdminMixin``. Cashiers have no admin
access at all (they are not ``is_staff``).

``ensure_staff_groups()`` creates or corrects the groups; it is idempotent and is called by
``seed_demo``. Other areas add their models to ``STAFF_GROUP_PERMISSIONS``.
"""

import logging

from django.apps import apps
from django.contrib.auth.management import create_permissions
from django.contrib.auth.models import Group, Permission
from django.db import transaction

from stores.models import StaffRole

logger = logging.getLogger(__name__)

MARKETING_GROUP = "Marketing"
STORE_MANAGERS_GROUP = "Store managers"

GROUP_FOR_ROLE = {
    StaffRole.MARKETER: MARKETING_GROUP,
    StaffRole.STORE_MANAGER: STORE_MANAGERS_GROUP,
}

# group name → {"app_label.model": ["add", "change", "delete", "view"]}
STAFF_GROUP_PERMISSIONS = {
    MARKETING_GROUP: {
        "coupons.campaign": ["add", "change", "view"],
        "coupons.coupon": ["view"],
        "coupons.redemption": ["view"],
        "stores.store": ["view"],
        "members.tag": ["view"],
        "members.member": ["view"],
    },
    STORE_MANAGERS_GROUP: {
        "coupons.campaign": ["view"],
        "coupons.coupon": ["view"],
        "coupons.redemption": ["view"],
        "stores.store": ["view"],
    },
}


def _permissions_for(spec: dict[str, list[str]]) -> list[Permission]:
    wanted = {}
    for model_label, actions in spec.items():
        app_label, model_name = model_label.split(".")
        for action in actions:
            wanted[(app_label, f"{action}_{model_name}")] = model_label
    found = list(
        Permission.objects.filter(
            content_type__app_label__in={app_label for app_label, _ in wanted},
            codename__in={codename for _, codename in wanted},
        ).select_related("content_type")
    )
    found = [p for p in found if (p.content_type.app_label, p.codename) in wanted]
    missing = set(wanted) - {(p.content_type.app_label, p.codename) for p in found}
    for app_label, codename in sorted(missing):
        logger.warning("permission %s.%s does not exist; skipped", app_label, codename)
    return found


def ensure_staff_groups() -> dict[str, Group]:
    """Create the staff groups or reset their permissions to ``STAFF_GROUP_PERMISSIONS``.

    Idempotent. Permissions of models that do not exist are skipped with a warning.
    Returns the groups by name.
    """
    # Permissions are normally created after migrate; make sure they exist when this runs
    # right after migrations in the same process (tests, seed_demo).
    for app_config in apps.get_app_configs():
        create_permissions(app_config, verbosity=0)
    groups = {}
    with transaction.atomic():
        for name, spec in STAFF_GROUP_PERMISSIONS.items():
            group, _ = Group.objects.get_or_create(name=name)
            group.permissions.set(_permissions_for(spec))
            groups[name] = group
    return groups
