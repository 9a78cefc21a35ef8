from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.tenants.models import ApiKeyScope, Tenant
from apps.tenants.services import api_key_create


class Command(BaseCommand):
    help = "Create an API key for a tenant. The key is printed once, alone on the last line."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug", help="Tenant slug")
        parser.add_argument("--scope", required=True, choices=ApiKeyScope.values)
        parser.add_argument(
            "--origin",
            action="append",
            default=[],
            metavar="URL",
            help="Allowed browser origin of a widget key (repeatable)",
        )
        parser.add_argument("--name", default="", help="What the key is for")

    def handle(
        self, *args: object, slug: str, scope: str, origin: list[str], name: str, **options: object
    ) -> None:
        tenant = Tenant.objects.filter(slug=slug).first()
        if tenant is None:
            raise CommandError(f"No tenant with slug {slug!r}.")
        try:
            key, raw = api_key_create(tenant=tenant, scope=scope, name=name, origins=origin)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        self.stderr.write(
            f"Created {key.scope} key {key.name!r} for {tenant.slug}. It is shown once; store it now."
        )
        self.stdout.write(raw)
