/* Data source pages: the auth-mode picker, header rows, the refresh recipe and polling toggles,
   the "Test connection" button and the warning before "Generate" leaves unsaved changes. Plain
   JavaScript; the pages also work, less conveniently, without it. */
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

  function renderResults(result) {
    var panel = document.getElementById("test-results");
    var message = document.getElementById("test-message");
    var tbody = document.querySelector("#test-steps tbody");
    if (!panel) return;
    panel.hidden = false;
    panel.classList.toggle("pb-test-ok", !!result.ok);
    panel.classList.toggle("pb-test-failed", !result.ok);
    var timing = result.elapsed_ms != null ? " (" + Math.round(result.elapsed_ms) + " ms)" : "";
    message.textContent = (result.ok ? "✔ " : "✘ ") + result.message + timing;
    tbody.textContent = "";
    (result.steps || []).forEach(function (step) {
      var tr = document.createElement("tr");
      tr.className = "pb-step pb-step-" + (step.ok ? "ok" : "failed");
      tr.dataset.step = step.name;
      var name = document.createElement("th");
      name.scope = "row";
      name.textContent = step.name.toUpperCase();
      var ok = document.createElement("td");
      ok.textContent = step.ok ? "✔ OK" : "✘ Failed";
      var detail = document.createElement("td");
      detail.textContent = step.detail;
      tr.appendChild(name); tr.appendChild(ok); tr.appendChild(detail);
      tbody.appendChild(tr);
    });
    if (result.errors) {
      Object.keys(result.errors).forEach(function (field) {
        var tr = document.createElement("tr");
        tr.className = "pb-step pb-step-failed";
        var th = document.createElement("th");
        th.scope = "row";
        th.textContent = field.replace(/__/g, " ");
        var td = document.createElement("td");
        td.colSpan = 2;
        td.textContent = result.errors[field].join(" ");
        tr.appendChild(th); tr.appendChild(td);
        tbody.appendChild(tr);
      });
    }
    panel.scrollIntoView({block: "nearest"});
  }

  function setupTest(form, withFields) {
    var button = form.querySelector("#test-connection") || document.getElementById("test-connection");
    if (!button) return;
    button.addEventListener("click", function () {
      var body = withFields ? new FormData(form) : new FormData();
      if (!withFields) body.append("csrfmiddlewaretoken", csrfToken(form));
      button.disabled = true;
      var label = button.textContent;
      button.textContent = "Testing…";
      button.setAttribute("aria-busy", "true");
      fetch(form.dataset.testUrl, {
        method: "POST",
        body: body,
        credentials: "same-origin",
        headers: {"X-CSRFToken": csrfToken(form), "Accept": "application/json"}
      }).then(function (response) {
        return response.json().catch(function () {
          return {ok: false, message: "The server answered " + response.status + ".", steps: []};
        });
      }).then(renderResults, function () {
        renderResults({ok: false, message: "Could not reach Plugboard. Check your network.", steps: []});
      }).finally(function () {
        button.disabled = false;
        button.textContent = label;
        button.removeAttribute("aria-busy");
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
    }
    var saved = document.getElementById("saved-test-form");
    if (saved) setupTest(saved, false);
  });
})();
