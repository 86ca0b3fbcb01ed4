"""Demo stores in Shenzhen, the admin, and staff of every role (``manage.py seed_demo``).

Idempotent: rows are found by their natural key (store code, username); passwords are set
only when a user is created, so running it again changes nothing.
"""

from django.contrib.auth import get_user_model
from django.db import transaction

from stores.models import StaffProfile, StaffRole, Store
from stores.permissions import ensure_staff_groups
from stores.services import staff_groups_sync

CHAIN_NAME = "惠邻鲜超"
CITY = "深圳"
# code, branch name, address in Shenzhen, latitude, longitude, opening hours, phone
_DEMO_STORE_TABLE = """
S001 福田中心店 福田区福华三路88号 22.5362 114.0553 07:30-22:30 0755-83210001
S002 南山海岸城店 南山区文心五路33号 22.5173 113.936 08:00-22:00 0755-86210002
S003 罗湖东门店 罗湖区人民南路3002号 22.5413 114.118 07:30-23:00 0755-82210003
S004 宝安中心店 宝安区新安街道建安一路99号 22.5553 113.8834 08:00-22:00 0755-27210004
S005 龙岗龙城店 龙岗区龙城街道龙翔大道7188号 22.7207 114.2468 07:30-22:30 0755-28210005
S006 龙华民治店 龙华区民治街道民治大道3009号 22.6153 114.0404 07:30-22:30 0755-23210006
S007 科技园店 南山区科苑路15号 22.5402 113.9503 07:00-23:00 0755-86210007
S008 盐田沙头角店 盐田区沙头角深盐路2002号 22.5562 114.2369 08:00-22:00 0755-25210008
S009 光明大街店 光明区光明街道光明大街168号 22.7478 113.9362 08:00-21:30 0755-29210009
S010 坪山中心店 坪山区坪山大道2007号 22.6907 114.3462 08:00-22:00 0755-84210010
"""
DEMO_STORES = [
    (code, name, address, float(latitude), float(longitude), hours, phone)
    for code, name, address, latitude, longitude, hours, phone in (
        line.split() for line in _DEMO_STORE_TABLE.strip().splitlines()
    )
]

# username (= password), role, store code, is_staff
DEMO_STAFF = [
    ("cashier1", StaffRole.CASHIER, "S001", False),
    ("manager1", StaffRole.STORE_MANAGER, "S001", True),
    ("cashier2", StaffRole.CASHIER, "S002", False),
    ("marketer1", StaffRole.MARKETER, None, True),
]

DEMO_ACCOUNTS = [
    ("admin", "admin", "superuser: all of admin"),
    ("marketer1", "marketer1", "marketing admin: campaigns in admin"),
    ("manager1", "manager1", "store manager of S001: admin, own store only; the till"),
    ("cashier1", "cashier1", "cashier at S001: the till (/pos/)"),
    ("cashier2", "cashier2", "cashier at S002: the till (/pos/)"),
]


def _user(username, *, is_staff, is_superuser=False):
    user_model = get_user_model()
    user, created = user_model.objects.get_or_create(
        username=username, defaults={"is_staff": is_staff, "is_superuser": is_superuser}
    )
    if created:
        user.set_password(username)
        user.save(update_fields=["password"])
    elif (user.is_staff, user.is_superuser) != (is_staff, is_superuser):
        user.is_staff, user.is_superuser = is_staff, is_superuser
        user.save(update_fields=["is_staff", "is_superuser"])
    return user, created


@transaction.atomic
def seed(stdout=None):
    ensure_staff_groups()

    stores_created = 0
    for code, name, address, latitude, longitude, hours, phone in DEMO_STORES:
        _, created = Store.objects.update_or_create(
            code=code,
            defaults={
                "name": f"{CHAIN_NAME} {name}",
                "address": f"{CITY}市{address}",
                "city": CITY,
                "latitude": latitude,
                "longitude": longitude,
                "opening_hours": hours,
                "phone": phone,
                "is_active": True,
            },
        )
        stores_created += created

    _, admin_created = _user("admin", is_staff=True, is_superuser=True)
    users_created = int(admin_created)
    stores = {store.code: store for store in Store.objects.filter(code__startswith="S")}
    for username, role, store_code, is_staff in DEMO_STAFF:
        user, created = _user(username, is_staff=is_staff)
        users_created += created
        StaffProfile.objects.update_or_create(
            user=user, defaults={"role": role, "store": stores.get(store_code)}
        )
        staff_groups_sync(user=user)

    if stdout is not None:
        stdout.write(
            f"stores: {len(DEMO_STORES)} demo stores ({stores_created} new), "
            f"{len(DEMO_STAFF) + 1} staff accounts ({users_created} new), groups "
            f"Marketing and Store managers"
        )
