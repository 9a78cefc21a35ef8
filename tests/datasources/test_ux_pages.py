"""Issue 13 on the data source pages, through Django's test client: the delete page says what
goes with a data source, errors sit under their fields in words, the test's answer marks the
steps it never reached, status follows tests, the history pages and filters, and the wizard's
drafts (steps, Back and Cancel, the 30 s timeout, the cleanup)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.bulk.models import BulkJob
from apps.datasources.models import AuditEntry, DataSource
from apps.datasources.services import audit_record, datasource_drafts_purge
from apps.datasources.tasks import purge_abandoned_drafts
from apps.events.models import Event
from apps.items.models import ConnectedItem
from config.schedule import BEAT_SCHEDULE
from tests.datasources.test_ui import configure_post
from tests.factories import DataSourceFactory


@pytest.fixture
def owner(acme, session_client):
    return session_client(acme.owner)


def text_of(response) -> str:
    return response.content.decode()


def item(ds, key: str, name: str) -> ConnectedItem:
    return ConnectedItem.objects.create(tenant=ds.tenant, datasource=ds, key=key, name=name,
                                        value="{key}", label="{name}")  # fmt: skip


def event(ds, status: str) -> Event:
    return Event.objects.create(tenant=ds.tenant, datasource=ds, source="webhook", status=status,
                                body=b"{}")  # fmt: skip


def job(ds, status: str) -> BulkJob:
    return BulkJob.objects.create(tenant=ds.tenant, datasource=ds, kind="upload", method="POST",
                                  path="/rows", status=status)  # fmt: skip


def tag(page: str, element_id: str) -> str:
    return re.search(rf'<[a-z]+ [^>]*id="{element_id}"[^>]*>', page).group(0)


# --- point 2: deleting says what goes with it ----------------------------------------------


@pytest.fixture
def used(acme):
    ds = DataSourceFactory(tenant=acme.tenant, name="Jira Cloud")
    item(ds, "issue", "Issue picker")
    item(ds, "project", "Project picker")
    for status in ("pending", "pending", "delivered"):
        event(ds, status)
    job(ds, "RUNNING")
    job(ds, "COMPLETE")
    return ds


def test_the_delete_page_names_the_items_counts_events_and_jobs(owner, used):
    page = text_of(owner.get(f"/t/acme/datasources/{used.pk}/delete/"))

    impact = page[page.index('id="delete-impact"') :]
    # The items by name, each linked to its page.
    assert '<a href="/t/acme/items/issue/">Issue picker (issue)</a>' in impact
    assert '<a href="/t/acme/items/project/">Project picker (project)</a>' in impact
    assert "2 connected items" in impact
    # Events and bulk jobs counted, the pending and running ones said apart.
    assert "3 events</strong>: 2 pending, 1 delivered" in impact
    assert "2 bulk jobs</strong>: 1 running, 1 complete" in impact or (
        "2 bulk jobs</strong>: 1 complete, 1 running" in impact
    )
    assert "choose another data source for it first" in page
    # Anything attached: the name must be typed.
    assert 'name="confirm_name"' in page


def test_deleting_a_used_data_source_needs_its_name_typed(owner, used):
    url = f"/t/acme/datasources/{used.pk}/delete/"

    refused = owner.post(url, {"confirm_name": "jira cloud"})
    assert refused.status_code == 400
    page = text_of(refused)
    field = tag(page, "id_confirm_name")
    assert 'aria-invalid="true"' in field and "id_confirm_name_error" in field
    # The message sits under the field (after the input in the field's row).
    row = page[page.index("field-confirm_name") :]
    assert row.index('id="id_confirm_name"') < row.index('id="id_confirm_name_error"')
    assert "That is not its name: type “Jira Cloud” exactly as written." in page
    assert "autofocus" in field
    assert DataSource.objects.filter(pk=used.pk).exists()
    assert ConnectedItem.objects.filter(datasource=used).count() == 2
    assert owner.post(url, {}).status_code == 400

    done = owner.post(url, {"confirm_name": "Jira Cloud"}, follow=True)

    assert not DataSource.objects.filter(pk=used.pk).exists()
    assert not ConnectedItem.objects.filter(key__in=["issue", "project"]).exists()
    assert (
        "“Jira Cloud” deleted, with 2 connected items, 3 events, 2 bulk jobs and its stored "
        "secrets and tokens." in text_of(done)
    )


def test_a_data_source_nothing_uses_is_deleted_with_one_click(owner, acme):
    ds = DataSourceFactory(tenant=acme.tenant, name="Lonely")
    page = text_of(owner.get(f"/t/acme/datasources/{ds.pk}/delete/"))
    assert "Nothing uses it (no connected items, events or bulk jobs)" in page
    assert "confirm_name" not in page

    owner.post(f"/t/acme/datasources/{ds.pk}/delete/")

    assert not DataSource.objects.filter(pk=ds.pk).exists()


def test_the_apis_delete_still_deletes_what_is_attached(acme, used):
    assert acme.api().delete(f"/api/v1/datasources/{used.pk}/").status_code == 204
    assert not ConnectedItem.objects.filter(key="issue").exists()


def test_the_delete_page_counts_only_this_tenants_rows(owner, acme, globex, used):
    theirs = DataSourceFactory(tenant=globex.tenant)
    item(theirs, "issue", "Their picker")
    page = text_of(owner.get(f"/t/acme/datasources/{used.pk}/delete/"))
    assert "Their picker" not in page and "2 connected items" in page


# --- point 3: errors belong to fields, in words ------------------------------------------


def test_a_failed_save_puts_each_error_under_its_field(owner, acme, upstream):
    ds = DataSourceFactory(tenant=acme.tenant)
    response = owner.post(f"/t/acme/datasources/{ds.pk}/configure/",
                          configure_post(upstream, base_url="", timeout_seconds="abc"))  # fmt: skip
    assert response.status_code == 400
    page = text_of(response)
    for name in ("base_url", "timeout_seconds"):
        field = tag(page, f"id_{name}")
        assert 'aria-invalid="true"' in field and f"id_{name}_error" in field
        row = page[page.index(f"form-row errors field-{name}") :]
        assert row.index(f'id="id_{name}"') < row.index(f'id="id_{name}_error"')
    assert "Give the API&#x27;s base URL, e.g. https://api.example.com/v1." in page
    assert "Type a whole number." in page


def test_test_connection_answers_errors_with_field_ids_and_labels(owner, acme, upstream):
    ds = DataSourceFactory(tenant=acme.tenant)
    response = owner.post(
        f"/t/acme/datasources/{ds.pk}/test/",
        configure_post(upstream, base_url="http://x.example", timeout_seconds="500"),
    )
    assert response.status_code == 400
    body = response.json()
    fields = {field["id"]: field for field in body["fields"]}
    assert fields["id_base_url"]["label"] == "Base URL"
    assert fields["id_base_url"]["messages"] == ["Only https:// URLs are allowed."]
    assert fields["id_timeout_seconds"]["label"] == "Timeout (seconds)"
    assert "Base URL" in body["message"] and "base_url" not in body["message"]


def test_header_errors_are_answered_for_the_headers_table(owner, acme, upstream):
    ds = DataSourceFactory(tenant=acme.tenant)
    data = configure_post(upstream, header_name=["Host"], header_value=["x"])
    body = owner.post(f"/t/acme/datasources/{ds.pk}/test/", data).json()
    assert body["fields"] == [{"name": "headers", "id": "header-rows", "label": "Custom headers",
                               "messages": ["The header Host cannot be set."]}]  # fmt: skip


# --- point 4: steps never reached are skipped ---------------------------------------------


def test_steps_never_reached_are_marked_skipped(owner, acme, upstream):
    ds = DataSourceFactory(tenant=acme.tenant, base_url=upstream.url().rsplit(":", 1)[0] + ":1")
    body = owner.post(f"/t/acme/datasources/{ds.pk}/test/").json()
    assert body["ok"] is False
    steps = {step["name"]: step for step in body["steps"]}
    assert steps["dns"] == {**steps["dns"], "ok": True, "skipped": False}
    assert steps["connect"]["ok"] is False and steps["connect"]["skipped"] is False
    for name in ("tls", "auth", "request", "check"):
        assert steps[name]["skipped"] is True, steps[name]


# --- point 5: status follows tests, history -----------------------------------------------


def test_a_test_of_the_saved_settings_answers_the_new_status_and_history(owner, acme, upstream):
    ds = DataSourceFactory(tenant=acme.tenant, base_url=upstream.url(), ping={"path": "/get"})
    body = owner.post(f"/t/acme/datasources/{ds.pk}/test/").json()
    assert body["ok"] is True
    assert body["status"]["value"] == "ok" and body["status"]["label"] == "OK"
    assert body["status"]["last_tested"].startswith("Last tested ")
    assert body["history"]["what"] == "Tested" and body["history"]["details"] == "passed"
    assert body["history"]["who"] == "alice"


def test_not_tested_yet_is_gone_once_a_test_ran(owner, acme, upstream):
    ds = DataSourceFactory(tenant=acme.tenant, base_url=upstream.url())
    assert "Not tested yet" in text_of(owner.get(f"/t/acme/datasources/{ds.pk}/"))

    # A test of typed values that are then not saved does not judge the saved settings...
    owner.post(f"/t/acme/datasources/{ds.pk}/test/",
               configure_post(upstream, ping__path="/get", auth_mode="none"))  # fmt: skip

    for url in (f"/t/acme/datasources/{ds.pk}/", "/t/acme/datasources/"):
        page = text_of(owner.get(url))
        assert "Not tested yet" not in page
        assert "Not tested since saved" in page


def saved_after_test(owner, ds, data):
    token = owner.post(f"/t/acme/datasources/{ds.pk}/test/", data).json()["tested"]
    return owner.post(f"/t/acme/datasources/{ds.pk}/configure/", {**data, "tested": token})


def test_saving_exactly_what_was_tested_makes_its_outcome_the_status(owner, acme, upstream):
    ds = DataSourceFactory(tenant=acme.tenant)
    passing = configure_post(upstream)

    assert saved_after_test(owner, ds, passing).status_code == 302

    ds.refresh_from_db()
    assert ds.status == "ok" and ds.last_tested_at is not None
    failing = configure_post(upstream, basic__password="wrong")
    saved_after_test(owner, ds, failing)
    ds.refresh_from_db()
    assert ds.status == "needs_attention" and "401" in ds.last_error


def test_saving_other_values_than_were_tested_leaves_the_status(owner, acme, upstream):
    ds = DataSourceFactory(tenant=acme.tenant)
    token = owner.post(f"/t/acme/datasources/{ds.pk}/test/", configure_post(upstream)).json()[
        "tested"
    ]
    changed = configure_post(upstream, ping__path="/get", tested=token)
    assert owner.post(f"/t/acme/datasources/{ds.pk}/configure/", changed).status_code == 302
    ds.refresh_from_db()
    assert ds.status == "unknown"
    # A token of another data source, or a forged one, counts for nothing either.
    other = DataSourceFactory(tenant=acme.tenant)
    for forged in (token, token[:-2] + "xx"):
        owner.post(f"/t/acme/datasources/{other.pk}/configure/",
                   configure_post(upstream, slug="other", tested=forged))  # fmt: skip
        other.refresh_from_db()
        assert other.status == "unknown"


@pytest.fixture
def long_history(acme):
    ds = DataSourceFactory(tenant=acme.tenant)
    for n in range(45):
        if n % 3 == 0:
            audit_record(datasource=ds, action="tested", actor=None, summary=f"test {n:02d}")
        else:
            audit_record(datasource=ds, action="changed", actor=None, changes=[f"c{n:02d}"])
    return ds


def history_rows(page: str) -> list[str]:
    body = page[
        page.index('id="history-rows"') : page.index("</tbody>", page.index("history-rows"))
    ]
    return re.findall(r"<tr>(.*?)</tr>", body, re.S)


def test_the_history_shows_20_entries_a_page(owner, long_history):
    url = f"/t/acme/datasources/{long_history.pk}/"
    first = text_of(owner.get(url))
    assert len(history_rows(first)) == 20
    assert "test 42" in history_rows(first)[2]  # newest first
    assert "Page 1 of 3" in first
    assert 'href="?history_page=2#audit-log"' in first
    last = text_of(owner.get(url + "?history_page=3"))
    assert len(history_rows(last)) == 5 and "test 00" in history_rows(last)[-1]
    assert 'href="?history_page=2#audit-log"' in last  # the newer page


def test_the_history_filters_to_changes_or_tests_and_keeps_the_filter(owner, long_history):
    url = f"/t/acme/datasources/{long_history.pk}/"
    tests = text_of(owner.get(url + "?history=tests"))
    rows = history_rows(tests)
    assert len(rows) == 15 and all("Tested" in row for row in rows)
    assert "Page 1 of 1" not in tests and '<strong aria-current="true">Tests</strong>' in tests

    changes = text_of(owner.get(url + "?history=changes"))
    assert all("Changed" in row for row in history_rows(changes))
    assert "Page 1 of 2" in changes
    # Paging keeps the filter in the URL.
    assert 'href="?history=changes&amp;history_page=2#audit-log"' in changes
    second = text_of(owner.get(url + "?history=changes&history_page=2"))
    assert len(history_rows(second)) == 10 and all("Changed" in r for r in history_rows(second))
    assert 'href="?history=changes#audit-log"' in second or (
        'href="?history=changes&amp;history_page=1#audit-log"' in second
    )


def test_the_history_of_another_data_source_is_not_shown(owner, acme, long_history):
    other = DataSourceFactory(tenant=acme.tenant)
    page = text_of(owner.get(f"/t/acme/datasources/{other.pk}/"))
    assert "No history yet." in page and "test 42" not in page


# --- point 10: the wizard and its drafts ---------------------------------------------------


def test_every_wizard_step_says_where_it_is_with_back_and_cancel(owner, acme):
    type_step = text_of(owner.get("/t/acme/datasources/new/"))
    assert "Step 1 of 3: Type" in type_step
    assert 'id="wizard-cancel"' in type_step and ">Back</button>" in type_step
    name_step = text_of(owner.post("/t/acme/datasources/new/", {"type": "rest"}))
    assert "Step 2 of 3: Name" in name_step
    assert 'id="wizard-back"' in name_step and 'href="/t/acme/datasources/"' in name_step

    created = owner.post("/t/acme/datasources/new/", {"type": "rest", "name": "Jira"})
    configure = text_of(owner.get(created.headers["Location"]))

    ds = DataSource.objects.get(name="Jira")
    assert "Step 3 of 3: Connection" in configure
    assert f'href="/t/acme/datasources/new/?draft={ds.pk}&amp;step=name"' in configure
    assert f'href="/t/acme/datasources/{ds.pk}/discard/"' in configure
    # A new data source's timeout starts at 30 s; the API's default stays 60 s.
    assert 'value="30"' in tag(configure, "id_timeout_seconds")
    assert ds.timeout_seconds == 60


def test_back_from_the_connection_step_edits_the_draft(owner, acme):
    owner.post("/t/acme/datasources/new/", {"type": "rest", "name": "Jira"})
    ds = DataSource.objects.get(name="Jira")

    name_step = text_of(owner.get(f"/t/acme/datasources/new/?draft={ds.pk}&step=name"))
    assert 'value="Jira"' in tag(name_step, "id_name")
    assert f'name="draft" value="{ds.pk}"' in name_step and 'value="Next"' in name_step
    renamed = owner.post("/t/acme/datasources/new/",
                         {"type": "rest", "name": "Jira Cloud", "draft": str(ds.pk)})  # fmt: skip

    assert renamed.headers["Location"] == f"/t/acme/datasources/{ds.pk}/configure/"
    assert list(DataSource.objects.values_list("name", "slug")) == [("Jira Cloud", "jira-cloud")]


def test_a_configured_data_source_shows_no_wizard(owner, acme):
    ds = DataSourceFactory(tenant=acme.tenant, timeout_seconds=45)
    page = text_of(owner.get(f"/t/acme/datasources/{ds.pk}/configure/"))
    assert "Step 3 of 3" not in page and "discard" not in page
    assert 'value="45"' in tag(page, "id_timeout_seconds")
    # Nor can a configured data source be edited as a draft.
    owner.post("/t/acme/datasources/new/", {"type": "rest", "name": "New", "draft": str(ds.pk)})
    assert DataSource.objects.get(pk=ds.pk).name != "New"
    assert DataSource.objects.filter(name="New").exists()


def test_drafts_read_draft_finish_setup(owner, acme):
    draft = DataSourceFactory(tenant=acme.tenant, name="Half made", base_url="")
    configure = f"/t/acme/datasources/{draft.pk}/configure/"
    listing = text_of(owner.get("/t/acme/datasources/"))
    assert f'<a href="{configure}" class="pb-status pb-status-draft">Draft — finish setup</a>' in (
        listing
    )
    detail = text_of(owner.get(f"/t/acme/datasources/{draft.pk}/"))
    assert "Draft — finish setup" in detail and 'id="finish-setup"' in detail
    assert "Not tested yet" not in detail + listing


def test_cancel_on_the_first_configure_deletes_the_draft_after_asking(owner, acme):
    owner.post("/t/acme/datasources/new/", {"type": "rest", "name": "Oops"})
    ds = DataSource.objects.get(name="Oops")
    url = f"/t/acme/datasources/{ds.pk}/discard/"

    asked = text_of(owner.get(url))
    assert "Cancel setting up <strong>Oops</strong>?" in asked
    assert DataSource.objects.filter(pk=ds.pk).exists()
    done = owner.post(url, follow=True)

    assert not DataSource.objects.filter(pk=ds.pk).exists()
    assert "Setup cancelled: the draft “Oops” was deleted." in text_of(done)
    assert AuditEntry.objects.filter(datasource_name="Oops", action="deleted").exists()


def test_discard_keeps_a_configured_or_used_data_source(owner, acme):
    configured = DataSourceFactory(tenant=acme.tenant)
    assert owner.get(f"/t/acme/datasources/{configured.pk}/discard/").headers["Location"] == (
        f"/t/acme/datasources/{configured.pk}/delete/"
    )
    used_draft = DataSourceFactory(tenant=acme.tenant, base_url="")
    item(used_draft, "early", "Early item")
    for ds in (configured, used_draft):
        owner.post(f"/t/acme/datasources/{ds.pk}/discard/")
        assert DataSource.objects.filter(pk=ds.pk).exists()


def test_viewers_and_other_tenants_cannot_discard(acme, globex, victor, session_client):
    draft = DataSourceFactory(tenant=acme.tenant, base_url="")
    assert session_client(victor).post(f"/t/acme/datasources/{draft.pk}/discard/").status_code == (
        403
    )
    theirs = DataSourceFactory(tenant=globex.tenant, base_url="")
    client = session_client(acme.owner)
    assert client.post(f"/t/acme/datasources/{theirs.pk}/discard/").status_code == 404
    assert DataSource.objects.filter(pk__in=[draft.pk, theirs.pk]).count() == 2


def aged(ds, hours: float):
    DataSource.objects.filter(pk=ds.pk).update(created_at=timezone.now() - timedelta(hours=hours))
    return ds


def test_the_cleanup_deletes_only_old_unconfigured_drafts_with_nothing_attached(acme, globex):
    old_draft = aged(DataSourceFactory(tenant=acme.tenant, base_url=""), 25)
    theirs = aged(DataSourceFactory(tenant=globex.tenant, base_url=""), 30)
    young_draft = aged(DataSourceFactory(tenant=acme.tenant, base_url=""), 23)
    old_configured = aged(DataSourceFactory(tenant=acme.tenant), 100)
    with_item = aged(DataSourceFactory(tenant=acme.tenant, base_url=""), 25)
    item(with_item, "early", "Early item")
    with_event = aged(DataSourceFactory(tenant=acme.tenant, base_url=""), 25)
    event(with_event, "recorded")
    with_job = aged(DataSourceFactory(tenant=acme.tenant, base_url=""), 25)
    job(with_job, "COMPLETE")

    assert purge_abandoned_drafts() == 2

    left = set(DataSource.objects.values_list("pk", flat=True))
    assert left == {young_draft.pk, old_configured.pk, with_item.pk, with_event.pk, with_job.pk}
    entry = AuditEntry.objects.get(datasource_name=old_draft.name, action="deleted")
    assert entry.actor_label == "system" and "never configured" in entry.summary
    assert not DataSource.objects.filter(pk=theirs.pk).exists()
    assert datasource_drafts_purge() == 0


def test_the_cleanup_is_scheduled_hourly():
    entry = BEAT_SCHEDULE["purge-abandoned-drafts"]
    assert entry["task"] == "apps.datasources.tasks.purge_abandoned_drafts"
    assert entry["schedule"] == timedelta(hours=1)
