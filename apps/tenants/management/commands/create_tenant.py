from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from apps.tenants.models import Role, Tenant
from apps.tenants.services import membership_set, tenant_create, user_get_or_create


class Command(BaseCommand):
    help = "Create a tenant, optionally with an owner (a new user's password is printed once)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug", help="URL name of the tenant, e.g. acme")
        parser.add_argument("--name", required=True, help="Display name, e.g. 'Acme Corp'")
        parser.add_argument("--admin", metavar="USERNAME", help="Owner; created if needed")

    def handle(
        self, *args: object, slug: str, name: str, admin: str | None, **options: object
    ) -> None:
        if Tenant.objects.filter(slug=slug).exists():
            raise CommandError(f"A tenant with slug {slug!r} already exists.")
        try:
            with transaction.atomic():
                tenant = tenant_create(slug=slug, name=name)
                password = None
                if admin:
                    user, password = user_get_or_create(username=admin)
                    membership_set(tenant=tenant, user=user, role=Role.OWNER)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        self.stdout.write(f"Created tenant {tenant.slug} ({tenant.name}).")
        if admin:
            if password:
                self.stdout.write(
                    f"Created user {admin} as owner. Password (shown once): {password}"
                )
            else:
                self.stdout.write(f"Added existing user {admin} as owner.")
