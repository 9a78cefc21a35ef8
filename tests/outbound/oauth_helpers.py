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


def start_connect(client, connect_path: str) -> str:
    """Open the connect page as a browser would and press its button (a POST with the page's
    CSRF token); returns the provider's authorization URL."""
    page = client.get(connect_path)
    assert page.status_code == 200, page.content[:300]
    html = page.content.decode()
    assert 'id="connect-form"' in html
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)
    start = client.post(connect_path, {"csrfmiddlewaretoken": token})
    assert start.status_code == 302, start.content[:300]
    return start.headers["Location"]


def connect_path(datasource) -> str:
    return f"/t/{datasource.tenant.slug}/datasources/{datasource.pk}/connect/"


def connect(client, datasource, oauth) -> str:
    """Run the whole authorization-code flow for ``datasource``; returns the authorize URL."""
    authorize_url = start_connect(client, connect_path(datasource))
    callback = consent(authorize_url, oauth.ca_pem)
    assert callback.startswith("http://testserver/oauth/callback/")
    done = client.get(callback.replace("http://testserver", ""))
    assert done.status_code == 302, done.content[:500]
    return authorize_url
