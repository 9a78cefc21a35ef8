from __future__ import annotations

from django.core.management.base import BaseCommand
from django.db import transaction

from apps.tenants.models import Role, Tenant
from apps.tenants.services import membership_set, tenant_create, user_get_or_create

DEMO_SLUG = "demo"
DEMO_USER = "admin"


class Command(BaseCommand):
    help = "Create the demo tenant and its admin user for local use (safe to run again)."

    def handle(self, *args: object, **options: object) -> None:
        with transaction.atomic():
            tenant = Tenant.objects.filter(slug=DEMO_SLUG).first() or tenant_create(
                slug=DEMO_SLUG, name="Demo"
            )
            # A local superuser, so that /admin/ can be tried too.
            user, password = user_get_or_create(username=DEMO_USER, superuser=True)
            membership_set(tenant=tenant, user=user, role=Role.OWNER)
        if password:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Demo login: {DEMO_USER} / {password}  (shown once; "
                    f"reset with: .venv/bin/python manage.py changepassword {DEMO_USER})"
                )
            )
        else:
            self.stdout.write(
                f"Demo login: {DEMO_USER} (password shown on first run; "
                f"reset with: .venv/bin/python manage.py changepassword {DEMO_USER})"
            )
