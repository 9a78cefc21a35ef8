"""Migrate the test authorization server's database and create its user and clients."""

import os
import sys

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.support.oauth_server.settings")
django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from oauth2_provider.models import Application  # noqa: E402

from tests.support.oauth_server.accounts import USER  # noqa: E402

CLIENTS = {
    # id: (secret, grant, client type, skip consent)
    "cc-client": ("cc-secret-value", Application.GRANT_CLIENT_CREDENTIALS, "confidential", True),
    "code-client": (
        "code-secret-value",
        Application.GRANT_AUTHORIZATION_CODE,
        "confidential",
        True,
    ),
    "consent-client": (
        "consent-secret-value",
        Application.GRANT_AUTHORIZATION_CODE,
        "confidential",
        False,
    ),
    "password-client": ("", Application.GRANT_PASSWORD, "public", True),
}


def main(redirect_uri: str) -> None:
    call_command("migrate", verbosity=0)
    user_model = get_user_model()
    owner = user_model.objects.filter(username=USER[0]).first()
    if owner is None:
        owner = user_model.objects.create_user(USER[0], password=USER[1])
    for client_id, (secret, grant, client_type, skip) in CLIENTS.items():
        Application.objects.filter(client_id=client_id).delete()
        Application.objects.create(
            name=client_id,
            client_id=client_id,
            client_secret=secret,
            client_type=client_type,
            authorization_grant_type=grant,
            redirect_uris=redirect_uri if grant == Application.GRANT_AUTHORIZATION_CODE else "",
            skip_authorization=skip,
            user=owner,
            algorithm="",
        )


if __name__ == "__main__":
    main(sys.argv[1])
