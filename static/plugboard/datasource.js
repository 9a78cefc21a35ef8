/* Data source pages: the auth-mode picker, header rows, the refresh recipe and polling toggles,
   the "Test connection" button (while it runs: a spinner, the seconds, Save and Test disabled;
   then each step, errors under their fields, and on the data source's page the new status and
   history entry), the focus on the first error of a failed save, and the warning before
   "Generate" leaves unsaved changes. Plain JavaScript; the pages also work, less conveniently,
   without it. */
(function () {
  "use strict";

  var MAX_HEADERS = 20;

  function csrfToken(form) {
    var input = form.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function setupAuthModes(form) {
    var select = form.querySelector("#id_auth_mode");
    if (!select) return;
    var sections = form.querySelectorAll(".pb-auth-mode");
    var connect = form.querySelector("#connect-settings");
    function show() {
      sections.forEach(function (section) { section.hidden = section.dataset.mode !== select.value; });
      if (connect) connect.hidden = connect.dataset.modes.split(" ").indexOf(select.value) < 0;
    }
    select.addEventListener("change", show);
    show();
  }

  function setupToggledGroups(form) {
    // An optional group of settings (e.g. the token refresh recipe) shows when its box is ticked.
    form.querySelectorAll("[data-toggled-by]").forEach(function (group) {
      var toggle = document.getElementById(group.dataset.toggledBy);
      if (!toggle) return;
      function show() { group.hidden = !toggle.checked; }
      toggle.addEventListener("change", show);
      show();
    });
  }

  function setupHeaders(form) {
    var body = form.querySelector("#header-rows tbody");
    var template = form.querySelector("#header-row-template");
    var add = form.querySelector("#add-header");
    var count = form.querySelector("#header-count");
    if (!body || !template || !add) return;
    function update() {
      var rows = body.querySelectorAll("tr").length;
      add.disabled = rows >= MAX_HEADERS;
      count.textContent = rows >= MAX_HEADERS ? "20 headers is the most allowed." : rows + " of " + MAX_HEADERS;
    }
    add.addEventListener("click", function () {
      if (body.querySelectorAll("tr").length >= MAX_HEADERS) return;
      var row = template.content.firstElementChild.cloneNode(true);
      body.appendChild(row);
      row.querySelector("input").focus();
      update();
    });
    body.addEventListener("click", function (event) {
      var button = event.target.closest(".pb-remove-header");
      if (!button) return;
      button.closest("tr").remove();
      add.focus();
      update();
    });
    update();
  }

  function setupGenerateKey(form) {
    // "Generate a new signature key" posts its own small form and leaves this page: what was
    // typed here is lost, so it asks first when something was.
    var button = document.getElementById("generate-signature-key");
    if (!button) return;
    var dirty = false;
    form.addEventListener("input", function () { dirty = true; });
    form.addEventListener("change", function () { dirty = true; });
    button.addEventListener("click", function (event) {
      if (dirty && !window.confirm("Your changes on this page are not saved and will be lost. Generate a new signature key anyway?")) {
        event.preventDefault();
      }
    });
  }

  // --- errors that belong to fields -------------------------------------------------------

  function describedBy(element, id, add) {
    var ids = (element.getAttribute("aria-describedby") || "").split(/\s+/).filter(function (x) {
      return x && x !== id;
    });
    if (add) ids.push(id);
    if (ids.length) element.setAttribute("aria-describedby", ids.join(" "));
    else element.removeAttribute("aria-describedby");
  }

  function clearFieldErrors(form) {
    // Server-rendered errors (a failed save) go too: the new answer says what is still wrong.
    form.querySelectorAll(".form-row > ul.errorlist, ul.pb-header-errors").forEach(function (list) {
      list.remove();
    });
    form.querySelectorAll(".form-row.errors").forEach(function (row) { row.classList.remove("errors"); });
    form.querySelectorAll("[aria-invalid]").forEach(function (field) {
      field.removeAttribute("aria-invalid");
      describedBy(field, field.id + "_error", false);
    });
    var headers = form.querySelector("#header-rows");
    if (headers) {
      headers.classList.remove("pb-invalid");
      describedBy(headers, "header-rows_error", false);
    }
  }

  function errorList(id, messages, extraClass) {
    var list = document.createElement("ul");
    list.className = "errorlist" + (extraClass ? " " + extraClass : "");
    list.id = id + "_error";
    messages.forEach(function (text) {
      var item = document.createElement("li");
      item.textContent = text;
      list.appendChild(item);
    });
    return list;
  }

  // Each field's message under it, the field marked (red border, aria-invalid), the first one
  // (in the page's order) focused. Returns whether any field was found.
  function showFieldErrors(form, fields) {
    var targets = [];
    (fields || []).forEach(function (field) {
      var element = document.getElementById(field.id);
      if (!element || !form.contains(element)) return;
      if (field.name === "headers") {
        element.classList.add("pb-invalid");
        element.insertAdjacentElement("afterend", errorList(field.id, field.messages, "pb-header-errors"));
        describedBy(element, field.id + "_error", true);
        targets.push(element.querySelector("input") || form.querySelector("#add-header"));
        return;
      }
      var row = element.closest(".form-row");
      var list = errorList(field.id, field.messages);
      if (row) {
        row.classList.add("errors");
        var flex = row.querySelector(".flex-container");
        (flex || element).insertAdjacentElement("afterend", list);
      } else {
        element.insertAdjacentElement("afterend", list);
      }
      element.setAttribute("aria-invalid", "true");
      describedBy(element, field.id + "_error", true);
      targets.push(element);
    });
    focusFirst(targets);
    return targets.length > 0;
  }

  function focusFirst(elements) {
    var shown = elements.filter(function (el) { return el && el.getClientRects().length; });
    shown.sort(function (a, b) {
      return a.compareDocumentPosition(b) & Node.DOCUMENT_POSITION_FOLLOWING ? -1 : 1;
    });
    if (!shown.length) return;
    shown[0].focus({preventScroll: true});
    shown[0].scrollIntoView({block: "center"});
  }

  function focusServerErrors(form) {
    // A failed save: the first field with an error has the focus.
    if (!form.querySelector(".errornote")) return;
    var targets = Array.prototype.slice.call(form.querySelectorAll('[aria-invalid="true"]'));
    var headers = form.querySelector("#header-rows.pb-invalid input");
    if (headers) targets.push(headers);
    focusFirst(targets);
  }

  // --- the connection test ----------------------------------------------------------------

  function part(id) { return document.getElementById(id); }

  function stepRow(step) {
    var tr = document.createElement("tr");
    var state = step.skipped ? "skipped" : step.ok ? "ok" : "failed";
    tr.className = "pb-step pb-step-" + state;
    tr.dataset.step = step.name;
    var name = document.createElement("th");
    name.scope = "row";
    name.textContent = step.name.toUpperCase();
    var result = document.createElement("td");
    result.textContent = {ok: "✔ OK", failed: "✘ Failed", skipped: "– Skipped"}[state];
    var detail = document.createElement("td");
    detail.textContent = step.skipped ? "Not reached: the test stopped at the failed step." : step.detail;
    tr.appendChild(name); tr.appendChild(result); tr.appendChild(detail);
    return tr;
  }

  function renderResults(result) {
    var panel = part("test-results");
    if (!panel) return;
    var message = part("test-message");
    var table = part("test-steps");
    var tbody = table.querySelector("tbody");
    panel.hidden = false;
    panel.classList.toggle("pb-test-ok", !!result.ok);
    panel.classList.toggle("pb-test-failed", !result.ok);
    var timing = result.elapsed_ms != null ? " (" + Math.round(result.elapsed_ms) + " ms)" : "";
    message.textContent = (result.ok ? "✔ " : "✘ ") + result.message + timing;
    tbody.textContent = "";
    (result.steps || []).forEach(function (step) { tbody.appendChild(stepRow(step)); });
    table.hidden = !(result.steps || []).length;
  }

  function updateStatus(status) {
    var badge = part("datasource-status");
    if (badge) {
      badge.className = "pb-status pb-status-" + status.value;
      badge.textContent = status.label;
    }
    var error = part("datasource-last-error");
    if (error) {
      error.textContent = status.last_error || "";
      error.hidden = !status.last_error;
    }
    var tested = part("datasource-last-tested");
    if (tested) {
      tested.textContent = status.last_tested || "";
      tested.hidden = !status.last_tested;
    }
  }

  function addHistory(row) {
    // The new entry heads the history when the page shows its newest entries of that kind.
    var log = part("audit-log");
    var tbody = part("history-rows");
    if (!log || !tbody || log.dataset.historyPage !== "1") return;
    if (log.dataset.historyKind && log.dataset.historyKind !== "tests") return;
    var tr = document.createElement("tr");
    tr.className = "pb-history-new";
    [row.when, row.who, row.what, row.details].forEach(function (text, index) {
      var td = document.createElement("td");
      td.textContent = text;
      if (index === 0) td.className = "pb-nowrap";
      tr.appendChild(td);
    });
    tbody.insertBefore(tr, tbody.firstChild);
    var size = parseInt(log.dataset.historySize, 10) || 20;
    while (tbody.rows.length > size) tbody.deleteRow(-1);
    part("history-table").hidden = false;
    var empty = part("history-empty");
    if (empty) empty.remove();
    var count = part("history-count");
    if (count) count.textContent = String((parseInt(count.textContent, 10) || 0) + 1);
  }

  function setupTest(form, withFields) {
    var button = form.querySelector("#test-connection") || part("test-connection");
    if (!button) return;
    // What may not be used while a test runs: Save (and Save and connect), Test itself.
    var locked = [button].concat(Array.prototype.slice.call(
      form.querySelectorAll("#save-button, #save-and-connect")));
    var running = false;
    form.addEventListener("submit", function (event) {
      if (running) event.preventDefault();
    });

    function start() {
      running = true;
      var panel = part("test-results");
      panel.hidden = false;
      panel.classList.remove("pb-test-ok", "pb-test-failed");
      panel.setAttribute("aria-busy", "true");
      part("test-message").textContent = "";
      var table = part("test-steps");
      table.querySelector("tbody").textContent = "";
      table.hidden = true;
      part("test-running").hidden = false;
      var elapsed = part("test-elapsed");
      var started = Date.now();
      elapsed.textContent = "0 s";
      var timer = window.setInterval(function () {
        elapsed.textContent = Math.floor((Date.now() - started) / 1000) + " s";
      }, 250);
      locked.forEach(function (control) { control.disabled = true; });
      var label = button.textContent;
      button.textContent = "Testing…";
      button.setAttribute("aria-busy", "true");
      return function stop() {
        window.clearInterval(timer);
        running = false;
        part("test-running").hidden = true;
        panel.removeAttribute("aria-busy");
        locked.forEach(function (control) { control.disabled = false; });
        button.textContent = label;
        button.removeAttribute("aria-busy");
      };
    }

    button.addEventListener("click", function () {
      if (running) return;
      var body = withFields ? new FormData(form) : new FormData();
      if (!withFields) body.append("csrfmiddlewaretoken", csrfToken(form));
      var stop = start();
      if (withFields) clearFieldErrors(form);
      fetch(form.dataset.testUrl, {
        method: "POST",
        body: body,
        credentials: "same-origin",
        headers: {"X-CSRFToken": csrfToken(form), "Accept": "application/json"}
      }).then(function (response) {
        return response.json().catch(function () {
          return {ok: false, message: "The server answered " + response.status + ".", steps: []};
        });
      }, function () {
        return {ok: false, message: "Could not reach Plugboard. Check your network.", steps: []};
      }).then(function (result) {
        stop();
        renderResults(result);
        var token = form.querySelector("#tested-token");
        if (token) token.value = result.tested || "";
        if (result.status) updateStatus(result.status);
        if (result.history) addHistory(result.history);
        if (!(result.fields && showFieldErrors(form, result.fields))) {
          // The disabled button lost the focus; it gets it back unless the person moved on.
          if (!document.activeElement || document.activeElement === document.body) {
            button.focus({preventScroll: true});
          }
          part("test-results").scrollIntoView({block: "nearest"});
        }
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("datasource-form");
    if (form) {
      setupAuthModes(form);
      setupToggledGroups(form);
      setupHeaders(form);
      setupTest(form, true);
      setupGenerateKey(form);
      focusServerErrors(form);
    }
    var saved = document.getElementById("saved-test-form");
    if (saved) setupTest(saved, false);
  });
})();
