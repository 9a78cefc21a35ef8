"""The events pages through Django's test client: the panel on a data source's page (owners act,
viewers read), the events log (newest first, 25 a page, filters, escaped bodies, attempts,
redelivery), sending a test event to a real receiver, polling now, a new inbound URL, the
generated signature key shown once, and the configure page's Events section (a save that leaves
it alone changes nothing; errors land on their fields). Another tenant's objects are 404."""

from __future__ import annotations

import html
import json
import re
from datetime import timedelta
from html.parser import HTMLParser

import pytest
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from apps.datasources.models import AuditEntry, DataSource
from apps.events.delivery import deliver
from apps.events.models import Event, EventStatus, PollState
from apps.events.recording import event_record
from tests.factories import DataSourceFactory

INBOUND_SECRET = "inbound-canary-7f3a9c"


def record(datasource, body=b'{"n": 1}', source="webhook", content_type="application/json"):
    return event_record(datasource=datasource, source=source, body=body,
                        content_type=content_type).event  # fmt: skip


def page_of(response) -> str:
    return response.content.decode()


def said(client, response) -> list[str]:
    """The messages a redirect leaves, as the next page shows them."""
    assert response.status_code == 302, response.content[:2000]
    page = page_of(client.get(response.headers["Location"]))
    listed = re.search(r'<ul class="messagelist">(.*?)</ul>', page, re.S)
    return [html.unescape(m) for m in re.findall(r"<li[^>]*>(.*?)</li>", listed.group(1), re.S)
            ] if listed else []  # fmt: skip


@pytest.fixture
def owner(acme, session_client):
    return session_client(acme.owner)


@pytest.fixture
def source(acme):
    return DataSourceFactory(tenant=acme.tenant, name="Jira")


def log_url(ds) -> str:
    return f"/t/acme/datasources/{ds.pk}/events/"


# --- the panel ---------------------------------------------------------------------------------


def test_the_panel_shows_owners_the_state_and_the_actions(owner, delivering_source, signature_key):
    ds = delivering_source()
    ds.events_config = {**ds.events_config, "poll": {
        "enabled": True, "path": "/changes?since={since}", "interval_seconds": 600,
        "results_path": "items", "id_path": "id", "updated_path": "updated"}}  # fmt: skip
    ds.save()
    PollState.objects.create(datasource=ds, watermark="2026-11-21T09:30:00Z",
                             last_polled_at=timezone.now(), last_recorded=3,
                             last_error="2 records had no id.",
                             next_poll_at=timezone.now() + timedelta(minutes=10))  # fmt: skip
    record(ds)  # pending: delivery is on
    failed = record(ds, body=b'{"n": 2}')
    Event.objects.filter(pk=failed.pk).update(status=EventStatus.FAILED, next_attempt_at=None)
    old = record(ds, body=b'{"n": 3}')
    Event.objects.filter(pk=old.pk).update(received_at=timezone.now() - timedelta(days=2))
    ds.refresh_from_db()

    page = page_of(owner.get(f"/t/acme/datasources/{ds.pk}/"))

    panel = page[page.index('id="events-panel"') :]
    assert f'value="http://testserver/api/v1/inbound/{ds.inbound_token}"' in panel
    assert 'data-copy-target="inbound-url"' in panel and 'aria-live="polite"' in panel
    assert "plugboard/copy.js" in panel
    delivery = re.search(r'id="events-delivery">(.*?)</td>', panel, re.S).group(1)
    assert "<strong>On</strong>" in delivery and ds.events_config["callback_url"] in delivery
    assert "Signature key: set." in delivery
    polling = re.search(r'id="events-polling">(.*?)</td>', panel, re.S).group(1)
    assert "every 600 s" in polling and "2026-11-21T09:30:00Z" in polling
    assert "3 recorded" in polling and "2 records had no id." in polling
    assert "Next poll:" in polling
    counts = re.search(r'id="events-counts">(.*?)</td>', panel, re.S).group(1)
    assert "Pending: 1" in counts and "Failed: 1" in counts and "Delivered: 0" in counts
    assert f'href="{log_url(ds)}"' in panel
    for action in ("events/test/", "events/poll/"):
        form = re.search(rf'<form method="post" action="[^"]*{action}".*?</form>', panel, re.S)
        assert form and "disabled" not in form.group(0)
    assert f'href="/t/acme/datasources/{ds.pk}/inbound-url/"' in panel
    assert signature_key not in page


def test_viewers_see_the_state_but_no_action_and_no_inbound_url(acme, victor, session_client,
                                                                 delivering_source):  # fmt: skip
    ds = delivering_source()
    page = page_of(session_client(victor).get(f"/t/acme/datasources/{ds.pk}/"))
    panel = page[page.index('id="events-panel"') :]
    assert "<strong>On</strong>" in panel and 'id="events-counts"' in panel
    assert f'href="{log_url(ds)}"' in panel
    assert '<form method="post"' not in panel and "inbound-url/" not in panel
    assert ds.inbound_token not in page and "Copy" not in panel
    assert "Configure" not in page  # the house rule for viewers' pages


def test_disabled_buttons_say_why(owner, source):
    panel = page_of(owner.get(f"/t/acme/datasources/{source.pk}/"))
    test_button = re.search(r'<button[^>]*id="send-test-event"[^>]*>', panel).group(0)
    poll_button = re.search(r'<button[^>]*id="poll-now"[^>]*>', panel).group(0)
    assert "disabled" in test_button and 'aria-describedby="send-test-event-why"' in test_button
    assert "disabled" in poll_button and 'aria-describedby="poll-now-why"' in poll_button
    assert "Turn on delivery in" in panel and "Turn on polling in" in panel
    assert "Configure → Events</a> first" in panel


# --- the log -------------------------------------------------------------------------------------


def test_the_log_is_newest_first_25_a_page(owner, source):
    now = timezone.now()
    for n in range(30):
        event = record(source, body=f'{{"n": {n}}}'.encode())
        Event.objects.filter(pk=event.pk).update(received_at=now - timedelta(minutes=30 - n))

    first = page_of(owner.get(log_url(source)))
    bodies = re.findall(r'<pre class="pb-raw">\{&quot;n&quot;: (\d+)\}</pre>', first)
    assert bodies == [str(n) for n in range(29, 4, -1)]
    assert "Page 1 of 2 (30 in all)" in first and 'href="?page=2"' in first

    second = page_of(owner.get(log_url(source), {"page": 2}))
    assert re.findall(r'<pre class="pb-raw">\{&quot;n&quot;: (\d+)\}</pre>', second) == [
        "4", "3", "2", "1", "0"]  # fmt: skip


def test_the_log_filters_by_status_and_source_and_pages_keep_the_filters(owner, source):
    for n in range(27):
        record(source, body=f'{{"failed": {n}}}'.encode())
    Event.objects.filter(datasource=source).update(status=EventStatus.FAILED)
    record(source, body=b'{"recorded": true}')
    record(source, body=b'{"polled": true}', source="poll")

    failed = page_of(owner.get(log_url(source), {"status": "failed"}))
    assert "27 in all" in failed and "recorded&quot;" not in failed
    assert 'href="?status=failed&amp;page=2"' in failed
    assert '<option value="failed" selected>' in failed
    polled = page_of(owner.get(log_url(source), {"source": "poll"}))
    assert "polled&quot;: true" in polled and "failed&quot;" not in polled
    assert "recorded&quot;" not in polled
    nothing = page_of(owner.get(log_url(source), {"status": "delivered", "source": "poll"}))
    assert "No events match these filters." in nothing
    unknown = page_of(owner.get(log_url(source), {"status": "bogus"}))
    assert "recorded&quot;: true" in unknown  # an unknown filter value shows everything


def test_a_body_is_escaped_and_its_truncation_is_said(owner, source):
    record(source, body=b"<script>alert(1)</script>", content_type="text/html")
    record(source, body=b'"' + b"x" * 30_000 + b'"')

    page = page_of(owner.get(log_url(source)))

    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert re.search(r'<details class="pb-event-body">\s*<summary>Body \(25\sbytes, text/html\)',
                     page)  # fmt: skip
    assert (
        "Shortened: only the first 10240 characters are shown; the whole body is 30002 bytes."
        in page
    )
    assert page.count("Shortened:") == 1


def test_the_log_lists_each_attempt_and_when_the_next_is_due(owner, delivering_source):
    ds = delivering_source("503", "503")
    event = record(ds)
    deliver(event.pk)  # 503: retried
    Event.objects.filter(pk=event.pk).update(next_attempt_at=timezone.now())
    deliver(event.pk)  # 503 again
    Event.objects.filter(pk=event.pk).update(next_attempt_at=timezone.now() + timedelta(hours=1))
    unsent = record(ds, body=b'{"never": "sent"}')
    Event.objects.filter(pk=unsent.pk).update(status=EventStatus.RECORDED, next_attempt_at=None)

    page = page_of(owner.get(log_url(ds)))

    row = page[page.index(f'id="event-{event.pk}"') :]  # the older one: listed last
    assert '<span class="pb-status pb-event-pending">Pending</span>' in row
    assert "Next attempt" in row and "2 delivery attempts" in row
    attempts = re.findall(r"<tr><td>(\d)</td><td>(?:<span[^>]*>[^<]+</span>\s*)+</td><td>(\d+|—)</td>\s*<td>([^<]+)</td>"
                          r"<td>([^<]+)</td><td>(\d+) ms</td></tr>", page)  # fmt: skip
    assert [(a[0], a[1], a[2], a[3]) for a in attempts] == [
        ("1", "503", "✘ no", "HTTP 503"), ("2", "503", "✘ no", "HTTP 503")]  # fmt: skip
    assert "No delivery attempts." in page  # the unsent one


def test_a_failed_event_is_redelivered_from_the_log(owner, delivering_source, hooks):
    ds = delivering_source("400")
    event = record(ds)
    deliver(event.pk)
    event.refresh_from_db()
    assert event.status == EventStatus.FAILED
    page = page_of(owner.get(log_url(ds), {"status": "failed"}))
    action = f"/t/acme/datasources/{ds.pk}/events/{event.pk}/redeliver/"
    assert f'action="{action}"' in page

    response = owner.post(action, {"next": f"{log_url(ds)}?status=failed&page=1"})

    assert response.status_code == 302
    assert response.headers["Location"] == f"{log_url(ds)}?status=failed&page=1"
    assert any("queued for delivery again" in m for m in said(owner, response))
    event.refresh_from_db()
    assert event.status == EventStatus.PENDING
    deliver(event.pk)  # what the worker does with the queued task
    event.refresh_from_db()
    assert event.status == EventStatus.DELIVERED and event.attempts == 2
    assert len(hooks.received(ds.hook)) == 2

    again = owner.post(action, {"next": "https://evil.example/"})
    assert again.headers["Location"] == log_url(ds)  # only back to the log
    Event.objects.filter(pk=event.pk).update(status=EventStatus.PENDING)
    waiting = owner.post(action)
    assert any("already waiting for delivery" in m for m in said(owner, waiting))


def test_redelivery_without_delivery_says_why(owner, source):
    event = record(source)
    Event.objects.filter(pk=event.pk).update(status=EventStatus.FAILED)
    page = page_of(owner.get(log_url(source)))
    assert ">Redeliver</button>" in page  # failed events always offer it
    recorded = record(source, body=b'{"kept": 1}')
    assert f"/events/{recorded.pk}/redeliver/" not in page_of(owner.get(log_url(source)))

    response = owner.post(f"/t/acme/datasources/{source.pk}/events/{event.pk}/redeliver/")

    assert any("Delivery is off for this data source" in m for m in said(owner, response))
    event.refresh_from_db()
    assert event.status == EventStatus.FAILED


def test_viewers_read_the_log_without_redeliver(acme, victor, session_client, delivering_source):
    ds = delivering_source("400")
    event = record(ds)
    deliver(event.pk)
    viewer = session_client(victor)
    page = page_of(viewer.get(log_url(ds)))
    assert "&quot;n&quot;: 1" in page and "Redeliver" not in page
    response = viewer.post(f"/t/acme/datasources/{ds.pk}/events/{event.pk}/redeliver/")
    assert response.status_code == 403


def test_the_empty_log_says_how_events_arrive(owner, source):
    page = page_of(owner.get(log_url(source)))
    empty = re.search(r'id="events-empty">(.*?)</div>', page, re.S).group(1)
    assert "inbound URL" in empty and "Polling" in empty
    assert "callback URL and a signature key" in empty
    assert "Data sources</a> &rsaquo;" in page and f">{source.name}</a> &rsaquo; Events" in page


# --- send a test event, poll now, new inbound URL -----------------------------------------------


def test_send_a_test_event_delivers_it_and_says_so(owner, acme, delivering_source, hooks,
                                                   signature_key):  # fmt: skip
    ds = delivering_source()

    response = owner.post(f"/t/acme/datasources/{ds.pk}/events/test/")

    assert response.status_code == 302
    assert response.headers["Location"] == f"/t/acme/datasources/{ds.pk}/#events-panel"
    (message,) = said(owner, response)
    assert message.startswith("Test event delivered: the callback URL answered HTTP 200 in ")
    (arrived,) = hooks.received(ds.hook)
    body = json.loads(arrived["body"])
    assert body["type"] == "plugboard.test" and body["sent_by"] == "alice"
    # Verified as a receiver would, with the Standard Webhooks library and the stored key.
    Webhook(signature_key).verify(arrived["body"], arrived["headers"])
    event = Event.objects.get(datasource=ds)
    assert event.source == "test" and event.status == EventStatus.DELIVERED


def test_a_refused_test_event_shows_the_status(owner, delivering_source):
    ds = delivering_source("400")
    (message,) = said(owner, owner.post(f"/t/acme/datasources/{ds.pk}/events/test/"))
    assert message == (
        "The test event was not delivered: HTTP 400 (not retried). It will not be tried again."
    )


def test_a_test_event_needs_delivery_on(owner, source):
    (message,) = said(owner, owner.post(f"/t/acme/datasources/{source.pk}/events/test/"))
    assert "Delivery is off for this data source" in message
    assert not Event.objects.filter(datasource=source).exists()


def test_poll_now_records_changes_and_says_how_many(owner, acme, upstream, feeds):
    feed = feeds.new({"issues": [{"id": "1", "updated": "2026-11-20T10:00:00Z"}]})
    ds = DataSourceFactory(tenant=acme.tenant, base_url=upstream.url(), events_config={"poll": {
        "enabled": True, "path": f"/_test/feed/{feed}?since={{since}}", "interval_seconds": 300,
        "results_path": "issues", "id_path": "id", "updated_path": "updated"}})  # fmt: skip
    url = f"/t/acme/datasources/{ds.pk}/events/poll/"

    first = owner.post(url)
    assert first.headers["Location"] == f"/t/acme/datasources/{ds.pk}/#events-panel"
    assert said(owner, first) == [
        "0 events recorded. This first poll only set the watermark: later polls record what "
        "changes."
    ]
    feeds.serve(feed, {"issues": [{"id": "1", "updated": "2026-11-22T10:00:00Z"},
                                  {"id": "2", "updated": "2026-11-22T11:00:00Z"}]})  # fmt: skip
    assert said(owner, owner.post(url)) == ["2 events recorded."]
    assert Event.objects.filter(datasource=ds, source="poll").count() == 2
    panel = page_of(owner.get(f"/t/acme/datasources/{ds.pk}/"))
    assert "2026-11-22T11:00:00Z" in panel and "2 recorded" in panel


def test_poll_now_shows_the_error(owner, acme, upstream):
    ds = DataSourceFactory(tenant=acme.tenant, base_url=upstream.url(), events_config={"poll": {
        "enabled": True, "path": "/_test/data/status?code=500", "interval_seconds": 300,
        "id_path": "id", "updated_path": "updated"}})  # fmt: skip
    (message,) = said(owner, owner.post(f"/t/acme/datasources/{ds.pk}/events/poll/"))
    assert message.startswith("The poll failed: ") and "500" in message
    panel = page_of(owner.get(f"/t/acme/datasources/{ds.pk}/"))
    assert "Last error:" in panel


def test_poll_now_needs_polling_on(owner, source):
    (message,) = said(owner, owner.post(f"/t/acme/datasources/{source.pk}/events/poll/"))
    assert "Polling is off for this data source" in message


def test_a_new_inbound_url_retires_the_old_one(owner, client, source):
    old = source.inbound_token
    confirm = page_of(owner.get(f"/t/acme/datasources/{source.pk}/inbound-url/"))
    assert "stops working at once" in confirm and old not in confirm

    response = owner.post(f"/t/acme/datasources/{source.pk}/inbound-url/")

    assert response.headers["Location"] == f"/t/acme/datasources/{source.pk}/#events-panel"
    (message,) = said(owner, response)
    assert "old one no longer accepts events" in message and old not in message
    source.refresh_from_db()
    assert source.inbound_token != old
    assert client.post(f"/api/v1/inbound/{old}", data=b"{}",
                       content_type="application/json").status_code == 404  # fmt: skip
    assert client.post(f"/api/v1/inbound/{source.inbound_token}", data=b"{}",
                       content_type="application/json").status_code == 202  # fmt: skip
    assert AuditEntry.objects.filter(datasource=source, changes=["events.inbound_url"]).exists()


# --- the signature key, generated and shown once --------------------------------------------------


def test_a_generated_signature_key_is_shown_once(owner, acme, source):
    url = f"/t/acme/datasources/{source.pk}/signature-key/"
    confirm = page_of(owner.get(url))
    assert "Generate a new signature key" in confirm

    response = owner.post(url)

    assert response.status_code == 200 and "Location" not in response.headers
    assert "no-store" in response.headers["Cache-Control"]
    page = page_of(response)
    key = re.search(r'value="(whsec_[A-Za-z0-9+/=]+)" id="new-signature-key"', page).group(1)
    assert "will not be shown again" in page and "Standard Webhooks" in page
    assert 'data-copy-target="new-signature-key"' in page
    source.refresh_from_db()
    assert source.event_secrets["signature_key"] == key
    assert "events.signature_key (secret)" in AuditEntry.objects.filter(datasource=source).latest(
        "created_at").changes  # fmt: skip
    # A library verifies what is signed with it.
    signed = Webhook(key).sign(msg_id="msg_1", timestamp=timezone.now(), data="{}")
    assert signed.startswith("v1,")
    # Never again: not on any page, not in a message or a cookie.
    assert key not in str(response.cookies)
    for again in (url, f"/t/acme/datasources/{source.pk}/",
                  f"/t/acme/datasources/{source.pk}/configure/", log_url(source)):  # fmt: skip
        later = owner.get(again)
        assert key not in page_of(later) and key not in str(later.cookies)
    assert "A key is stored already" in page_of(owner.get(url))
    second = owner.post(url)
    assert key not in page_of(second)  # a new one replaced it


def test_generating_needs_a_valid_rest_of_the_settings(owner, acme):
    # Settings a factory wrote without the service's checks: the key is not stored, and the
    # page says why instead of showing a key that does not work.
    ds = DataSourceFactory(tenant=acme.tenant, events_config={"poll": {"enabled": True}})
    response = owner.post(f"/t/acme/datasources/{ds.pk}/signature-key/")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/configure/#section-events")
    assert "whsec_" not in response.headers["Location"]
    (message,) = said(owner, response)
    assert message.startswith("No key was generated: ") and "whsec_" not in message
    ds.refresh_from_db()
    assert not ds.event_secrets


# --- the configure page's Events section ---------------------------------------------------------


class _FormFields(HTMLParser):
    """What a browser submits for one form of a page: inputs (not those inside <template>),
    ticked boxes, selected options, textareas; no buttons."""

    def __init__(self, form_id: str):
        super().__init__()
        self.form_id, self.inside, self.template = form_id, False, 0
        self.fields: list[tuple[str, str]] = []
        self._select: str | None = None
        self._options: list[tuple[str, bool]] = []
        self._textarea: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.inside = a.get("id") == self.form_id
        if not self.inside:
            return
        if tag == "template":
            self.template += 1
        if self.template or not a.get("name"):
            if tag == "option" and self._select is not None:
                self._options.append((a.get("value", ""), "selected" in a))
            return
        kind = a.get("type", "text")
        if tag == "input" and kind not in ("submit", "button", "image", "file"):
            if kind in ("checkbox", "radio"):
                if "checked" in a:
                    self.fields.append((a["name"], a.get("value") or "on"))
            else:
                self.fields.append((a["name"], a.get("value") or ""))
        elif tag == "select":
            self._select, self._options = a["name"], []
        elif tag == "textarea":
            self._textarea = a["name"]
            self.fields.append((a["name"], ""))

    def handle_data(self, data):
        if self._textarea:
            name, value = self.fields[-1]
            self.fields[-1] = (name, value + data)

    def handle_endtag(self, tag):
        if tag == "template" and self.template:
            self.template -= 1
        elif tag == "textarea":
            self._textarea = None
        elif tag == "select" and self._select is not None:
            chosen = [v for v, selected in self._options if selected] or [
                v for v, _ in self._options[:1]]  # fmt: skip
            self.fields.extend((self._select, v) for v in chosen)
            self._select = None
        elif tag == "form":
            self.inside = False


def submitted(html: str, form_id: str = "datasource-form", **changes) -> dict:
    parser = _FormFields(form_id)
    parser.feed(html)
    data: dict[str, list[str]] = {}
    for name, value in parser.fields:
        data.setdefault(name, []).append(value)
    for name, value in changes.items():
        if value is None:
            data.pop(name, None)
        else:
            data[name] = [value] if isinstance(value, str) else value
    return data


@pytest.fixture
def configured(acme, upstream, signature_key):
    """A data source with every events setting and both secrets."""
    return DataSourceFactory(
        tenant=acme.tenant, base_url=upstream.url(), auth_mode="basic",
        auth_config={"username": "elements"}, secrets={"password": "connect"},
        ping={"method": "GET", "path": "", "success_path": "", "success_values": []},
        events_config={
            "enabled": True, "callback_url": upstream.url("/hooks/in"),
            "inbound_signature_scheme": "hmac_sha256",
            "inbound_signature_header": "X-Signature",
            "poll": {"enabled": True, "path": "/search?jql=updated>={since}",
                     "interval_seconds": 900, "results_path": "issues", "id_path": "key",
                     "updated_path": "fields.updated"},
        },
        event_secrets={"signature_key": signature_key, "inbound_secret": INBOUND_SECRET},
    )  # fmt: skip


def configure_url(ds) -> str:
    return f"/t/acme/datasources/{ds.pk}/configure/"


def test_saving_the_page_as_shown_leaves_events_alone(owner, configured, signature_key):
    before = (dict(configured.events_config), dict(configured.event_secrets))
    page = page_of(owner.get(configure_url(configured)))
    assert signature_key not in page and INBOUND_SECRET not in page
    assert page.count("Stored and unchanged; type a new value to replace it.") == 3  # + password
    assert 'name="events__signature_key__clear"' in page
    assert 'name="events__inbound_secret__clear"' in page
    for name in ("events__signature_key", "events__inbound_secret"):
        field = re.search(rf'<input type="password" name="{name}"[^>]*>', page).group(0)
        assert "value=" not in field
    entries = AuditEntry.objects.filter(datasource=configured).count()

    response = owner.post(configure_url(configured), submitted(page))

    assert response.status_code == 302, page_of(response)
    configured.refresh_from_db()
    assert (configured.events_config, configured.event_secrets) == before
    assert AuditEntry.objects.filter(datasource=configured).count() == entries  # nothing changed
    assert said(owner, response) == [f"“{configured.name}” saved."]


def test_a_save_without_the_section_leaves_events_alone(owner, configured):
    before = (dict(configured.events_config), dict(configured.event_secrets))
    data = submitted(page_of(owner.get(configure_url(configured))), name="Renamed")
    data = {k: v for k, v in data.items() if not k.startswith("events")}
    assert owner.post(configure_url(configured), data).status_code == 302
    configured.refresh_from_db()
    assert configured.name == "Renamed"
    assert (configured.events_config, configured.event_secrets) == before


def test_the_section_writes_the_api_shape(owner, acme, upstream, signature_key):
    ds = DataSourceFactory(tenant=acme.tenant, base_url=upstream.url())
    page = page_of(owner.get(configure_url(ds)))
    assert 'id="section-events"' in page and 'data-toggled-by="id_events__poll__enabled"' in page
    data = submitted(
        page,
        events__enabled="on", events__callback_url=upstream.url("/hooks/x"),
        events__signature_key=signature_key, events__inbound_secret="s3cret",
        events__inbound_signature_scheme="hmac_sha256",
        events__inbound_signature_header="X-Hub-Signature",
        events__poll__enabled="on", events__poll__path="/changes?since={since}",
        events__poll__interval_seconds="120", events__poll__results_path="data",
        events__poll__id_path="uid", events__poll__updated_path="modified",
    )  # fmt: skip

    assert owner.post(configure_url(ds), data).status_code == 302

    ds.refresh_from_db()
    assert ds.events_config == {
        "enabled": True, "callback_url": upstream.url("/hooks/x"),
        "inbound_signature_header": "X-Hub-Signature",
        "poll": {"enabled": True, "path": "/changes?since={since}", "interval_seconds": 120,
                 "results_path": "data", "id_path": "uid", "updated_path": "modified"},
    }  # fmt: skip
    assert ds.event_secrets == {"signature_key": signature_key, "inbound_secret": "s3cret"}

    # Turning polling off keeps its settings; removing a secret removes it alone.
    page = page_of(owner.get(configure_url(ds)))
    data = submitted(page, events__poll__enabled=None, events__inbound_secret__clear="on")
    assert owner.post(configure_url(ds), data).status_code == 302
    ds.refresh_from_db()
    assert ds.events_config["poll"]["enabled"] is False
    assert ds.events_config["poll"]["path"] == "/changes?since={since}"
    assert ds.event_secrets == {"signature_key": signature_key}


def test_events_errors_are_shown_on_their_fields_and_typing_is_kept(owner, configured,
                                                                    signature_key):  # fmt: skip
    page = page_of(owner.get(configure_url(configured)))
    data = submitted(
        page, events__callback_url="", events__signature_key="whsec_tooshort",
        events__poll__path="", events__poll__interval_seconds="5",
        events__poll__results_path="kept.results", events__inbound_secret="typed-secret",
    )  # fmt: skip

    response = owner.post(configure_url(configured), data)

    assert response.status_code == 400
    html = page_of(response)

    def errors_of(field):
        row = re.search(rf'<div class="form-row errors field-{field}">(.*?)</div>\s*</div>',
                        html, re.S)  # fmt: skip
        return row.group(1) if row else ""

    assert "it must hold 24 to 64" in errors_of("events__signature_key")
    assert "60" in errors_of("events__poll__interval_seconds")
    assert 'value="kept.results"' in html and 'value="5"' in html
    assert "typed-secret" not in html and signature_key not in html
    configured.refresh_from_db()
    assert configured.events_config["poll"]["interval_seconds"] == 900

    # The checks of the settings as a whole name their fields too.
    data = submitted(page, events__callback_url="", events__poll__path="")
    html = page_of(owner.post(configure_url(configured), data))
    assert "Deliveries need a callback URL." in errors_of("events__callback_url")
    assert "Polling needs a path." in errors_of("events__poll__path")
    data = submitted(page, events__callback_url="http://plain.example/hook")
    html = page_of(owner.post(configure_url(configured), data))
    assert "https" in errors_of("events__callback_url")
    assert 'value="http://plain.example/hook"' in html


def test_the_connection_test_ignores_the_events_section(owner, configured):
    page = page_of(owner.get(configure_url(configured)))
    data = submitted(page, events__callback_url="", basic__password="connect",
                     ping__path="/basic-auth/elements/connect")  # fmt: skip
    result = owner.post(f"/t/acme/datasources/{configured.pk}/test/", data).json()
    assert result["ok"] is True, result


def test_configure_offers_generate_in_a_form_of_its_own(owner, configured):
    page = page_of(owner.get(configure_url(configured)))
    button = re.search(r'<button[^>]*id="generate-signature-key"[^>]*>', page).group(0)
    assert 'form="signature-key-form"' in button
    own = re.search(r'<form method="post" action="([^"]+)" id="signature-key-form">', page)
    assert own.group(1) == f"/t/acme/datasources/{configured.pk}/signature-key/"
    assert page.index('id="signature-key-form"') > page.index("</form>")  # not nested
    assert "save your other changes first" in page


# --- isolation and roles --------------------------------------------------------------------------

GET_PAGES = ["events/", "signature-key/", "inbound-url/"]
POST_ACTIONS = ["events/test/", "events/poll/", "signature-key/", "inbound-url/"]


@pytest.mark.parametrize("suffix", GET_PAGES)
def test_another_tenants_pages_are_404(suffix, acme, globex, owner):
    theirs = DataSourceFactory(tenant=globex.tenant)
    assert owner.get(f"/t/acme/datasources/{theirs.pk}/{suffix}").status_code == 404
    assert owner.get(f"/t/globex/datasources/{theirs.pk}/{suffix}").status_code == 404


@pytest.mark.parametrize("suffix", POST_ACTIONS)
def test_another_tenants_actions_are_404(suffix, acme, globex, owner):
    theirs = DataSourceFactory(tenant=globex.tenant)
    token = theirs.inbound_token
    assert owner.post(f"/t/acme/datasources/{theirs.pk}/{suffix}").status_code == 404
    theirs.refresh_from_db()
    assert theirs.inbound_token == token and not theirs.event_secrets
    assert not Event.objects.filter(datasource=theirs).exists()


def test_another_tenants_event_is_404(acme, globex, owner, source):
    theirs = DataSourceFactory(tenant=globex.tenant)
    their_event = record(theirs)
    Event.objects.filter(pk=their_event.pk).update(status=EventStatus.FAILED)
    for ds in (source, theirs):  # under my data source or theirs
        url = f"/t/acme/datasources/{ds.pk}/events/{their_event.pk}/redeliver/"
        assert owner.post(url).status_code == 404
    assert Event.objects.get(pk=their_event.pk).status == EventStatus.FAILED


@pytest.mark.parametrize("suffix", POST_ACTIONS)
def test_viewers_cannot_act(suffix, acme, victor, session_client, delivering_source):
    ds = delivering_source()
    token, secrets = ds.inbound_token, dict(ds.event_secrets)
    viewer = session_client(victor)
    assert viewer.post(f"/t/acme/datasources/{ds.pk}/{suffix}").status_code == 403
    ds.refresh_from_db()
    assert ds.inbound_token == token and ds.event_secrets == secrets
    assert not Event.objects.filter(datasource=ds).exists()


@pytest.mark.parametrize("suffix", ["signature-key/", "inbound-url/"])
def test_viewers_do_not_get_the_confirmation_pages(suffix, acme, victor, session_client, source):
    assert (
        session_client(victor).get(f"/t/acme/datasources/{source.pk}/{suffix}").status_code == 403
    )


def test_the_log_of_an_unknown_data_source_is_404(owner):
    missing = "00000000-0000-0000-0000-000000000000"
    assert owner.get(f"/t/acme/datasources/{missing}/events/").status_code == 404
    assert DataSource.objects.count() == 0


def test_unreadable_event_secrets_are_typed_again_or_removed_on_the_page(owner, configured,
                                                                         settings):  # fmt: skip
    from apps.datasources.event_settings import new_signature_key

    settings.FIELD_ENCRYPTION_KEYS = ["Hk3d0J0l8xZyHBn7SBrgJy1mYxH3rEw3hM0xw8hgC6Q="]
    page = page_of(owner.get(configure_url(configured)))
    assert page.count("The stored secrets cannot be decrypted: type this again") == 2
    new_key = new_signature_key()
    # The signing key alone is not enough: what the inbound secret was cannot be known.
    # (The auth password could not be decrypted either: it is typed again too.)
    response = owner.post(configure_url(configured), submitted(page, basic__password="connect",
                          events__signature_key=new_key))  # fmt: skip
    assert response.status_code == 400
    assert "send every one of them again" in page_of(response)
    data = submitted(page, basic__password="connect", events__signature_key=new_key,
                     events__inbound_secret__clear="on")  # fmt: skip
    assert owner.post(configure_url(configured), data).status_code == 302
    configured.refresh_from_db()
    assert configured.event_secrets == {"signature_key": new_key}
