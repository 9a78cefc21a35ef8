"""The connected item editor in headless Chromium: a warning for a reference no record has, preview
errors as errors under their fields, the Body field for POST only, the Key derived from the Name
until edited, and copy buttons that put the exact text on the clipboard (issue 13, points 7, 9)."""

import pytest
from playwright.sync_api import expect

from apps.items.models import ConnectedItem
from tests.support.browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def signed_in(live_server, page, acme):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))  # uncaught in our scripts
    log_in(page, live_server, acme.owner)
    page.js_errors = errors
    return page


def wait_copied(page, status_id):
    page.wait_for_function(
        f"() => document.getElementById('{status_id}').textContent.includes('Copied')"
    )


def test_a_reference_no_record_has_is_a_visible_warning(signed_in, live_server, issues):
    page = signed_in
    page.goto(f"{live_server.url}/t/acme/items/issue/")
    page.get_by_label("Label").fill("{key} ({fields.summry})")
    page.get_by_label("project").fill("PB")
    page.get_by_role("button", name="Preview").click()

    box = page.locator("#preview-warnings")
    expect(box).to_be_visible()
    expect(box).to_contain_text("Label: {fields.summry} matches no field in any of the 5 records")
    under = page.locator(".field-label .pb-field-warning")
    expect(under).to_be_visible()
    expect(under).to_contain_text("The first record has: key, fields.summary, fields.priority.")
    assert under.get_attribute("id") in page.get_by_label("Label").get_attribute("aria-describedby")
    expect(page.locator("#preview-select option").first).to_have_text("PB-1 ()  [PB-1]")

    # Corrected, the warning goes at once, and the next preview has none.
    page.get_by_label("Label").fill("{key} ({fields.summary})")
    expect(under).to_have_count(0)
    expect(box).to_be_hidden()
    page.get_by_role("button", name="Preview").click()
    expect(page.locator("#preview-select option").first).to_have_text(
        "PB-1 (Plugboard task 1)  [PB-1]"
    )
    expect(box).to_be_hidden()
    assert page.js_errors == []


def test_preview_errors_look_like_errors_under_their_fields(signed_in, live_server, source):
    page = signed_in
    page.goto(f"{live_server.url}/t/acme/items/new/")
    page.get_by_label("Name").fill("Issue")
    page.get_by_role("textbox", name="Path:", exact=True).fill(
        "/_test/data/issues?project={project}"
    )
    page.get_by_role("button", name="Preview").click()

    note = page.locator("#preview-error")
    expect(note).to_be_visible()
    assert "errornote" in note.get_attribute("class")
    assert note.get_attribute("role") == "alert"
    expect(note).to_have_text(
        "The preview needs a complete item: correct Value, Label (marked above)."
    )
    value = page.get_by_label("Value")
    assert value.get_attribute("aria-invalid") == "true"
    expect(page.locator("#id_value_preview_error")).to_have_text("Give a template, like {id}.")
    assert "id_value_preview_error" in value.get_attribute("aria-describedby")
    expect(value).to_be_focused()

    # A missing dependency: the error note, the empty dependency marked and focused.
    value.fill("{key}")
    page.get_by_label("Label").fill("{key}")
    page.get_by_role("button", name="Preview").click()
    expect(note).to_have_text("Give a value for project: this item depends on it.")
    assert value.get_attribute("aria-invalid") is None
    dependency = page.get_by_label("project")
    assert dependency.get_attribute("aria-invalid") == "true"
    expect(dependency).to_be_focused()

    # An upstream failure is an error too; a success clears it.
    page.get_by_role("textbox", name="Path:", exact=True).fill(
        "/_test/data/status?code=500&project={project}"
    )
    dependency.fill("PB")
    page.get_by_role("button", name="Preview").click()
    expect(note).to_have_text("The upstream answered HTTP 500.")
    page.get_by_role("textbox", name="Path:", exact=True).fill(
        "/_test/data/issues?project={project}"
    )
    page.get_by_label("Results path").fill("data.items")
    page.get_by_role("button", name="Preview").click()
    expect(page.locator("#preview-status")).to_contain_text("5 options.")
    expect(note).to_be_hidden()
    assert page.js_errors == []


def test_the_body_field_shows_for_post_only(signed_in, live_server, source):
    page = signed_in
    page.goto(f"{live_server.url}/t/acme/items/new/")
    body = page.get_by_label("Body")
    expect(body).to_be_hidden()

    page.get_by_label("Method").select_option("POST")
    expect(body).to_be_visible()
    body.fill('{"project": "{project}"}')
    expect(page.get_by_label("project")).to_be_visible()  # its placeholder is a dependency

    page.get_by_label("Method").select_option("GET")
    expect(body).to_be_hidden()
    expect(page.get_by_label("project")).to_have_count(0)  # not sent, so no dependency
    page.get_by_label("Method").select_option("POST")
    expect(body).to_have_value('{"project": "{project}"}')  # what was typed comes back
    assert page.js_errors == []


def test_the_key_follows_the_name_until_it_is_edited(signed_in, live_server, source):
    page = signed_in
    page.goto(f"{live_server.url}/t/acme/items/new/")
    key, name = page.get_by_label("Key"), page.get_by_label("Name")
    expect(key).to_have_value("")
    expect(key).to_have_attribute("placeholder", "jira-issue")

    name.press_sequentially("Jira Issue (Café)")
    expect(key).to_have_value("jira-issue-cafe")
    key.fill("tickets")
    name.fill("Something else")
    expect(key).to_have_value("tickets")
    # Emptied, the key follows the name again.
    key.fill("")
    name.press_sequentially("!")
    expect(key).to_have_value("something-else")

    page.get_by_role("textbox", name="Path:", exact=True).fill("/_test/data/projects")
    page.get_by_label("Value").fill("{key}")
    page.get_by_label("Label").fill("{name}")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url("**/items/something-else/")
    # An existing item's key never follows its name: widgets use it.
    page.get_by_label("Name").fill("Renamed")
    expect(page.get_by_label("Key")).to_have_value("something-else")
    assert page.js_errors == []


def test_copy_the_options_url_and_the_embed_snippet(signed_in, live_server, issues):
    page = signed_in
    page.goto(f"{live_server.url}/t/acme/items/issue/")
    box = page.locator("#use-it")

    box.get_by_role("button", name="Copy the options URL").click()
    wait_copied(page, "options-url-copied")
    assert page.evaluate("navigator.clipboard.readText()") == (
        f"{live_server.url}/api/v1/items/issue/options/?project="
    )
    assert page.locator("#options-url-copied").get_attribute("aria-live") == "polite"

    box.get_by_role("button", name="Copy the embed snippet").click()
    wait_copied(page, "embed-snippet-copied")
    assert page.evaluate("navigator.clipboard.readText()") == (
        f'<select name="issue" data-plugboard-item="issue" '
        f'data-plugboard-api="{live_server.url}/api/v1"\n'
        '        data-plugboard-key="YOUR_WIDGET_KEY"\n'
        '        data-plugboard-depends="project=#project"></select>\n'
        f'<script src="{live_server.url}/static/plugboard/widget.js" defer></script>'
    )
    assert page.locator("#embed-snippet-copied").get_attribute("role") == "status"

    # The demo page has the same box.
    page.goto(f"{live_server.url}/t/acme/items/issue/demo/")
    page.get_by_role("button", name="Copy the embed snippet").click()
    wait_copied(page, "embed-snippet-copied")
    assert 'data-plugboard-item="issue"' in page.evaluate("navigator.clipboard.readText()")
    assert page.js_errors == []


def test_delete_asks_first(signed_in, live_server, issues):
    page = signed_in
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(f"{live_server.url}/t/acme/items/issue/")

    page.get_by_role("button", name="Delete").click()

    assert dialogs == ["Delete this item? Widgets using it stop working."]
    assert ConnectedItem.objects.filter(key="issue").exists()
