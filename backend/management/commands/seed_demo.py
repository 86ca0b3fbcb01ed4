"""Fill the database with demo data: ``python manage.py seed_demo`` (``make seed``).

Calls ``seed(stdout=...)`` of each app's demo module in order (later apps use earlier apps'
rows: coupons need stores and members). Every seeder is idempotent, so running this twice
changes nothing.
"""

from django.core.management.base import BaseCommand

from coupons import demo as coupons_demo
from members import demo as members_demo
from stores import demo as stores_demo


class Command(BaseCommand):
    help = "Create the demo stores, staff, members and coupons (idempotent)."

    def handle(self, *args, **options):
        for demo in (stores_demo, members_demo, coupons_demo):
            demo.seed(stdout=self.stdout)
        self.stdout.write(self.style.SUCCESS("Demo data is in place."))
        for username, password, what in stores_demo.DEMO_ACCOUNTS:
            self.stdout.write(f"  {username} / {password}  {what}")
