/* Bulk jobs. On the forms: the pagination settings of the chosen style only, a file over the
   size limit refused before it is sent, the first field in error focused, one submit at a time.
   On a job's page: the progress follows the job without a reload, by polling the job's status
   (data-status-url) about once a second while it is active; the details, failures and result
   (data-details-url) are fetched again when it starts, ends or fails rows. Plain JavaScript,
   no inline code: the pages work under a strict Content-Security-Policy, and without it. */
(function () {
  "use strict";

  var POLL_MS = 1000;
  var HIDDEN_POLL_MS = 5000;
  var DETAILS_MIN_MS = 3000;
  var MAX_BACKOFF_MS = 30000;

  // --- forms ---------------------------------------------------------------------------------

  function setupPagination(form) {
    var select = form.querySelector("select[data-pagination-style]");
    if (!select) return;
    var inputs = form.querySelectorAll("[data-styles]");
    function show() {
      inputs.forEach(function (input) {
        var row = input.closest(".form-row");
        if (row) row.hidden = input.dataset.styles.split(" ").indexOf(select.value) < 0;
        var example = input.getAttribute("data-placeholder-" + select.value);
        if (example) input.placeholder = example;
      });
    }
    select.addEventListener("change", show);
    show();
  }

  function fieldError(input, text) {
    // Shown under the field as the server shows it: an error list named by aria-describedby.
    var row = input.closest(".form-row");
    var id = input.id + "_client_error";
    var list = document.getElementById(id);
    var described = (input.getAttribute("aria-describedby") || "").split(" ").filter(function (name) {
      return name && name !== id;
    });
    if (!text) {
      if (list) list.remove();
      input.removeAttribute("aria-invalid");
      if (row) row.classList.remove("errors");
      input.setAttribute("aria-describedby", described.join(" "));
      return;
    }
    if (!list) {
      list = document.createElement("ul");
      list.className = "errorlist";
      list.id = id;
      var container = row ? row.querySelector(".flex-container") : null;
      (container || input).insertAdjacentElement("afterend", list);
    }
    list.textContent = "";
    var item = document.createElement("li");
    item.textContent = text;
    list.appendChild(item);
    input.setAttribute("aria-invalid", "true");
    if (row) row.classList.add("errors");
    described.unshift(id);
    input.setAttribute("aria-describedby", described.join(" "));
  }

  function setupFileLimit(form) {
    var input = form.querySelector("input[type=file][data-max-bytes]");
    if (!input) return;
    var max = parseInt(input.dataset.maxBytes, 10);
    function tooLarge() {
      var file = input.files && input.files[0];
      return !!file && file.size > max;
    }
    input.addEventListener("change", function () {
      fieldError(input, tooLarge() ? input.dataset.tooLarge : "");
    });
    form.addEventListener("submit", function (event) {
      if (tooLarge()) {
        event.preventDefault();
        fieldError(input, input.dataset.tooLarge);
        input.focus();
      }
    });
  }

  function setupSubmitOnce(form) {
    // A second click would start a second job.
    form.addEventListener("submit", function (event) {
      if (event.defaultPrevented) return;
      var button = form.querySelector("button[type=submit]");
      if (!button) return;
      if (form.dataset.submitted) {
        event.preventDefault();
        return;
      }
      form.dataset.submitted = "true";
      button.setAttribute("aria-disabled", "true");
      if (form.dataset.submitting) button.textContent = form.dataset.submitting;
    });
    // Coming back with the browser's Back button shows the form usable again.
    window.addEventListener("pageshow", function () {
      delete form.dataset.submitted;
      var button = form.querySelector("button[type=submit]");
      if (button) button.removeAttribute("aria-disabled");
    });
  }

  function setupForms() {
    var forms = document.querySelectorAll("form.pb-bulk-form");
    forms.forEach(function (form) {
      setupPagination(form);
      setupFileLimit(form);
      setupSubmitOnce(form);
    });
    var invalid = document.querySelector("form.pb-bulk-form [aria-invalid=true]");
    if (invalid) invalid.focus();
  }

  // --- a job's page --------------------------------------------------------------------------

  function text(id, value) {
    var element = document.getElementById(id);
    if (element && element.textContent !== value) element.textContent = value;
  }

  function setupJob() {
    var root = document.querySelector("[data-bulk-job]");
    if (!root) return;
    var statusUrl = root.dataset.statusUrl;
    var detailsUrl = root.dataset.detailsUrl;
    var bar = document.getElementById("bulk-progress");
    var badge = document.getElementById("bulk-status");
    var announce = document.getElementById("bulk-announce");
    var problem = document.getElementById("bulk-poll-problem");
    var cancelRow = document.getElementById("bulk-cancel-row");
    var details = document.getElementById("bulk-job-details");
    var lastStatus = root.dataset.status;
    var lastFailed = parseInt(root.dataset.failed, 10) || 0;
    var detailsAt = Date.now();
    var detailsWanted = false;
    var errors = 0;
    var timer = null;

    function say(message) {
      if (!problem) return;
      problem.hidden = !message;
      problem.textContent = message || "";
    }

    function refreshDetails() {
      detailsWanted = false;
      detailsAt = Date.now();
      return fetch(detailsUrl, { credentials: "same-origin", cache: "no-store" })
        .then(function (response) {
          if (!response.ok || response.redirected) throw new Error("HTTP " + response.status);
          return response.text();
        })
        .then(function (html) { details.innerHTML = html; })
        .catch(function () { detailsWanted = true; });
    }

    function render(data) {
      var progress = data.progress;
      var shown = progress.display;
      if (progress.bar) {
        bar.max = progress.bar.max;
        bar.value = progress.bar.value;
      } else {
        bar.removeAttribute("value");  // indeterminate: a query's total comes with its last page
      }
      bar.textContent = shown.percent;
      var barRow = document.getElementById("bulk-progress-row");
      if (barRow) barRow.hidden = !progress.show_bar;
      text("bulk-percent", shown.percent);
      text("bulk-done", shown.done);
      text("bulk-note", shown.note);
      var note = document.getElementById("bulk-note");
      if (note) note.classList.toggle("pb-last-error", data.status === "FAILED");
      text("bulk-succeeded", shown.succeeded);
      text("bulk-failed", shown.failed);
      text("bulk-rate", shown.rate);
      text("bulk-eta", shown.eta);
      text("bulk-elapsed", shown.elapsed);
      text("bulk-status", shown.status);
      badge.className = "pb-status pb-job-" + data.status.toLowerCase();
      badge.dataset.status = data.status;
      root.dataset.active = progress.active ? "true" : "false";
      if (cancelRow) cancelRow.hidden = !progress.active;

      var changed = data.status !== lastStatus;
      var failedMore = data.failed !== lastFailed;
      lastStatus = data.status;
      lastFailed = data.failed;
      root.dataset.status = data.status;
      root.dataset.failed = String(data.failed);
      if (changed) {
        var sentence = "The job is " + shown.status.toLowerCase() + ".";
        if (!progress.active) {
          sentence = "The job is " + shown.status.toLowerCase() + ": " + shown.done + ", " +
            shown.succeeded + " succeeded, " + shown.failed + " failed.";
        }
        announce.textContent = sentence;
      }
      if (failedMore) detailsWanted = true;
      if (changed || !progress.active || (detailsWanted && Date.now() - detailsAt >= DETAILS_MIN_MS)) {
        refreshDetails();
      }
    }

    function schedule(ms) {
      window.clearTimeout(timer);
      timer = window.setTimeout(poll, ms);
    }

    function poll() {
      fetch(statusUrl, { credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" } })
        .then(function (response) {
          if (response.redirected || response.status === 403) {
            var ended = new Error("Your session has ended: reload the page to log in again.");
            ended.final = true;
            throw ended;
          }
          if (response.status === 404) {
            var gone = new Error("This job no longer exists (its data source may have been deleted).");
            gone.final = true;
            throw gone;
          }
          if (!response.ok) throw new Error("the server answered HTTP " + response.status);
          return response.json();
        })
        .then(function (data) {
          errors = 0;
          say("");
          render(data);
          if (data.progress.active) schedule(document.hidden ? HIDDEN_POLL_MS : POLL_MS);
        })
        .catch(function (error) {
          if (error.final) {
            say(error.message);
            return;
          }
          errors += 1;
          var wait = Math.min(MAX_BACKOFF_MS, POLL_MS * Math.pow(2, errors));
          say("The progress could not be updated (" + (error.message || "no answer") +
            "); trying again in " + Math.round(wait / 1000) + " s.");
          schedule(wait);
        });
    }

    document.addEventListener("visibilitychange", function () {
      if (!document.hidden && root.dataset.active === "true" && errors === 0) schedule(0);
    });
    if (root.dataset.active === "true") schedule(POLL_MS);
  }

  function setup() {
    setupForms();
    setupJob();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", setup);
  else setup();
})();
