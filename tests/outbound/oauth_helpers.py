"""Drive the test authorization server as a user's browser would, over plain HTTP."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urljoin, urlsplit

import requests

from tests.support.oauth_server.accounts import USER
from tests.support.servers import OAUTH_IP


def consent(authorize_url: str, ca_pem, username: str = USER[0], password: str = USER[1]) -> str:
    """Log in at the provider and approve; returns the redirect back to Plugboard."""
    authorize_url = authorize_url.replace("//oauth.test:", f"//{OAUTH_IP}:")  # no test DNS here
    browser = requests.Session()
    browser.trust_env = False
    browser.verify = str(ca_pem)
    response = browser.get(authorize_url, allow_redirects=False)
    if response.status_code == 302 and "/accounts/login/" in response.headers["Location"]:
        login_url = urljoin(authorize_url, response.headers["Location"])
        page = browser.get(login_url)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
        nxt = parse_qs(urlsplit(login_url).query)["next"][0]
        response = browser.post(
            login_url,
            data={"csrfmiddlewaretoken": token, "username": username, "password": password,
                  "next": nxt},
            headers={"Referer": login_url},
            allow_redirects=False,
        )  # fmt: skip
        assert response.status_code == 302, response.text[:500]
        response = browser.get(
            urljoin(login_url, response.headers["Location"]), allow_redirects=False
        )
    assert response.status_code == 302, response.text[:500]
    return response.headers["Location"]


def connect(client, datasource, oauth) -> str:
    """Run the whole authorization-code flow for ``datasource``; returns the authorize URL."""
    start = client.get(f"/t/{datasource.tenant.slug}/datasources/{datasource.pk}/connect/")
    assert start.status_code == 302, start.content[:300]
    authorize_url = start.headers["Location"]
    callback = consent(authorize_url, oauth.ca_pem)
    assert callback.startswith("http://testserver/oauth/callback/")
    done = client.get(callback.replace("http://testserver", ""))
    assert done.status_code == 302, done.content[:500]
    return authorize_url
