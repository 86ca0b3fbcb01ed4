"""Fill the database with demo data: ``python manage.py seed_demo`` (``make seed``).

Calls ``seed(stdout=...)`` of each area in ``SEEDERS``, in order (later areas use earlier
areas' rows: coupons need stores and members). An area whose demo module does not exist is
skipped. Every seeder is idempotent, so running this twice changes nothing.
"""

import importlib

from django.core.management.base import BaseCommand

SEEDERS = [
    "stores.demo",
    "members.notification_demo",
    "coupons.demo",
    "coupons.deal_demo",
]


class Command(BaseCommand):
    help = "Create the demo stores, staff, members and coupons (idempotent)."

    def handle(self, *args, **options):
        for module_name in SEEDERS:
            try:
                module = importlib.import_module(module_name)
            except ModuleNotFoundError as error:
                if error.name != module_name:
                    raise  # the module exists but something it imports is missing
                self.stdout.write(f"{module_name}: not present, skipped")
                continue
            module.seed(stdout=self.stdout)
        self.stdout.write(self.style.SUCCESS("Demo data is in place."))
        from stores.demo import DEMO_ACCOUNTS

        for username, password, what in DEMO_ACCOUNTS:
            self.stdout.write(f"  {username} / {password}  {what}")
