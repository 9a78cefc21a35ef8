from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from apps.core.crypto import DecryptionError, is_current, rotate
from apps.core.fields import ENCRYPTED_FIELDS, Ciphertext

BATCH = 500


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored secret with the first key of FIELD_ENCRYPTION_KEYS, in "
        "batches, and print how many values were rewritten. Run it after putting a new key "
        "first; remove the old key only afterwards."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=BATCH)

    def handle(self, *args: object, batch_size: int, **options: object) -> None:
        by_model: dict[type, list[str]] = {}
        for field in ENCRYPTED_FIELDS:
            by_model.setdefault(field.model, []).append(field.attname)
        rewritten = current = 0
        for model, attnames in by_model.items():
            last_pk = None
            while True:
                with transaction.atomic():
                    # Rows are locked while rewritten, so a concurrent token refresh waits
                    # instead of being overwritten with the value read here.
                    rows = model._base_manager.select_for_update().order_by("pk")
                    if last_pk is not None:
                        rows = rows.filter(pk__gt=last_pk)
                    batch = list(rows.values_list("pk", *attnames)[:batch_size])
                    if not batch:
                        break
                    for pk, *values in batch:
                        changes = {}
                        for attname, value in zip(attnames, values, strict=True):
                            if value is None:
                                continue
                            if is_current(value):
                                current += 1
                                continue
                            try:
                                changes[attname] = Ciphertext(rotate(value))
                            except DecryptionError as exc:
                                raise CommandError(
                                    f"{model._meta.label} {pk} {attname}: {exc} Nothing in this "
                                    "batch was changed; add the missing key and run again."
                                ) from exc
                        if changes:
                            model._base_manager.filter(pk=pk).update(**changes)
                            rewritten += len(changes)
                    last_pk = batch[-1][0]
        self.stdout.write(
            f"Rewrote {rewritten} values ({current} were already under the first key)."
        )
