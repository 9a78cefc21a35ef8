"""System checks: configuration mistakes are reported at start-up, not at the first call."""

from __future__ import annotations

import ipaddress
import os
from typing import Any

from cryptography.fernet import Fernet
from django.conf import settings
from django.core.checks import Error, register


@register()
def plugboard_settings(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    errors: list[Error] = []
    keys = [k for k in settings.FIELD_ENCRYPTION_KEYS if k.strip()]
    if not keys:
        errors.append(
            Error(
                "FIELD_ENCRYPTION_KEYS is empty.",
                hint="Set one or more Fernet keys, comma-separated: the first encrypts.",
                id="plugboard.E001",
            )
        )
    for index, key in enumerate(keys, start=1):
        try:
            Fernet(key.strip().encode())
        except ValueError:
            errors.append(
                Error(
                    f"Key {index} of FIELD_ENCRYPTION_KEYS is not a Fernet key.",
                    hint="Generate one with: python -c 'from cryptography.fernet import "
                    "Fernet; print(Fernet.generate_key().decode())'",
                    id="plugboard.E002",
                )
            )
    for network in settings.OUTBOUND_ALLOWED_NETWORKS:
        try:
            ipaddress.ip_network(network.strip(), strict=False)
        except ValueError:
            errors.append(
                Error(
                    f"OUTBOUND_ALLOWED_NETWORKS holds {network!r}, which is not a network.",
                    hint="Use CIDRs such as 10.20.0.0/16 or 2001:db8::/32, comma-separated.",
                    id="plugboard.E003",
                )
            )
    if not os.path.isfile(settings.OUTBOUND_CA_BUNDLE):
        errors.append(
            Error(
                f"OUTBOUND_CA_BUNDLE names {settings.OUTBOUND_CA_BUNDLE!r}, which is not a file.",
                hint="Point it at a PEM file of CA certificates, or unset it for certifi's.",
                id="plugboard.E004",
            )
        )
    return errors
