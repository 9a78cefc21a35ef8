"""Encrypted model fields.

The database column holds Fernet ciphertext only. On the instance the attribute reads as the
plain value (decrypted lazily, bound to the row's primary key) and accepts plain values, which
are encrypted when the row is saved. ``QuerySet.update()`` and lookups cannot write or compare
plain values: they raise, rather than store a secret in clear.
"""

from __future__ import annotations

import contextvars
from typing import Any

from django.db import models

from apps.core.crypto import seal, unseal

ENCRYPTED_FIELDS: list[EncryptedFieldMixin] = []


class Ciphertext(str):
    """A value as stored in the column (marks it as already encrypted)."""


_UNSET = object()
# While set, encrypted attributes read as their stored ciphertext (refresh_from_db copies rows).
_RAW_READS: contextvars.ContextVar[bool] = contextvars.ContextVar("raw_reads", default=False)


class _EncryptedDescriptor:
    def __init__(self, field: EncryptedFieldMixin) -> None:
        self.field = field

    def __get__(self, instance: models.Model | None, owner: type | None = None) -> Any:
        if instance is None:
            return self
        state = instance.__dict__
        raw_reads = _RAW_READS.get()
        plain = state.get(self.field.plain_key, _UNSET)
        if plain is not _UNSET and not raw_reads:
            return plain
        if self.field.attname not in state:  # deferred by .only()/.defer(): load it now
            stored = (
                type(instance)
                ._base_manager.filter(pk=instance.pk)
                .values_list(self.field.attname, flat=True)
                .first()
            )
            state[self.field.attname] = None if stored is None else Ciphertext(stored)
        raw = state.get(self.field.attname)
        if raw_reads:
            return raw
        if raw is None:
            return self.field.empty_value()
        plain = unseal(raw, self.field.context(instance))
        state[self.field.plain_key] = plain
        return plain

    def __set__(self, instance: models.Model, value: Any) -> None:
        state = instance.__dict__
        if value is None or isinstance(value, Ciphertext):
            state[self.field.attname] = value
            state.pop(self.field.plain_key, None)
            state.pop(self.field.dirty_key, None)
        else:
            state[self.field.plain_key] = value
            state[self.field.dirty_key] = True


class EncryptedFieldMixin:
    """Shared behaviour; the concrete fields below define the empty value."""

    def contribute_to_class(self, cls: type[models.Model], name: str, **kwargs: Any) -> None:
        super().contribute_to_class(cls, name, **kwargs)  # type: ignore[misc]
        setattr(cls, self.attname, _EncryptedDescriptor(self))
        # Migrations build historical copies of models (module "__fake__"); only real models
        # are rotated.
        if not cls._meta.abstract and cls.__module__ != "__fake__":
            ENCRYPTED_FIELDS.append(self)

    @property
    def plain_key(self) -> str:
        return f"_plain_{self.attname}"

    @property
    def dirty_key(self) -> str:
        return f"_dirty_{self.attname}"

    def empty_value(self) -> Any:
        return None

    def context(self, instance: models.Model) -> str:
        if instance.pk is None:
            raise ValueError(f"{self.model._meta.label}.{self.name} needs a primary key first.")
        return f"{self.model._meta.label_lower}.{self.name}:{instance.pk}"

    def pre_save(self, model_instance: models.Model, add: bool) -> Any:
        state = model_instance.__dict__
        if state.get(self.dirty_key):
            plain = state[self.plain_key]
            value = (
                None
                if plain is None or plain == self.empty_value()
                else Ciphertext(seal(plain, self.context(model_instance)))
            )
            state[self.attname] = value
            state.pop(self.dirty_key, None)
            return value
        return state.get(self.attname)

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        return None if value is None else Ciphertext(value)

    def get_prep_value(self, value: Any) -> Any:
        if value is None or isinstance(value, Ciphertext):
            return value
        raise TypeError(
            f"{self.model._meta.label}.{self.name} is encrypted: set it on an instance and "
            "save(); it cannot be written with update() or used in a lookup."
        )

    def value_from_object(self, obj: models.Model) -> Any:
        # Forms, serializers and the admin see no value: secrets are write-only.
        return None

    def deconstruct(self) -> tuple[str, str, list, dict]:
        name, path, args, kwargs = super().deconstruct()  # type: ignore[misc]
        return name, path, args, kwargs


class EncryptedTextField(EncryptedFieldMixin, models.TextField):
    """A secret string."""

    def empty_value(self) -> Any:
        return ""


class EncryptedJSONField(EncryptedFieldMixin, models.TextField):
    """A secret JSON-serialisable dict (e.g. all the secrets of one auth configuration)."""

    def empty_value(self) -> Any:
        return {}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("null", True)
        kwargs.setdefault("blank", True)
        super().__init__(*args, **kwargs)


class EncryptedModel(models.Model):
    """Base of models with encrypted fields.

    Saving an existing row never writes back an encrypted value that was not changed on the
    instance: what was loaded may be older than the row (``rotate_encryption_keys`` may have
    re-encrypted it under the new first key meanwhile), and writing it back could leave a value
    only a removed key opens.
    """

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if (
            not self._state.adding
            and self.pk is not None
            and kwargs.get("update_fields") is None
            and not kwargs.get("force_insert")
        ):
            untouched = {
                field.attname
                for field in self._meta.concrete_fields
                if isinstance(field, EncryptedFieldMixin) and not self.__dict__.get(field.dirty_key)
            }
            if untouched:
                deferred = self.get_deferred_fields()
                kwargs["update_fields"] = [
                    field.name
                    for field in self._meta.concrete_fields
                    if not field.primary_key
                    and field.attname not in untouched
                    and field.attname not in deferred
                ]
        super().save(*args, **kwargs)

    def refresh_from_db(self, *args: Any, **kwargs: Any) -> None:
        """Reload as Django does, copying encrypted values as stored: nothing is decrypted
        (a value no key opens does not break a reload) and nothing is marked changed."""
        token = _RAW_READS.set(True)
        try:
            super().refresh_from_db(*args, **kwargs)
        finally:
            _RAW_READS.reset(token)
