/* Connected item page: dependency inputs follow the {placeholders} of path and body; the Body
   field shows for methods with a body only; a new item's Key follows its Name until the Key is
   edited; the Preview button shows the options and the raw answer of an unsaved item, its errors
   under their fields and as an error note, and a warning for each {reference} of Value or Label
   that no record of the answer has. */
(function () {
  "use strict";
  var PLACEHOLDER = /\{([A-Za-z_][A-Za-z0-9_]*)\}/g;
  var METHODS_WITH_BODY = ["POST"];

  function field(form, name) { return form.querySelector("#id_" + name); }

  function rowOf(input) { return input.closest(".form-row"); }

  function names(form) {
    var body = field(form, "body");
    var text = (field(form, "path").value || "") + " " + (body.disabled ? "" : body.value || "");
    var found = [], match;
    PLACEHOLDER.lastIndex = 0;
    while ((match = PLACEHOLDER.exec(text)) !== null) {
      if (found.indexOf(match[1]) < 0) found.push(match[1]);
    }
    return found;
  }

  function syncDependencies(form) {
    var box = form.querySelector("#dependency-inputs");
    var template = form.querySelector("#dependency-template");
    var wanted = names(form);
    Array.prototype.forEach.call(box.querySelectorAll("input"), function (input) {
      if (wanted.indexOf(input.dataset.dependency) < 0) input.closest(".form-row").remove();
    });
    wanted.forEach(function (name) {
      if (box.querySelector('input[data-dependency="' + name + '"]')) return;
      var row = template.content.firstElementChild.cloneNode(true);
      var input = row.querySelector("input");
      var label = row.querySelector("label");
      input.name = "dep_" + name;
      input.id = "dep-" + name;
      input.dataset.dependency = name;
      label.htmlFor = input.id;
      label.textContent = name + ":";
      box.appendChild(row);
    });
  }

  /* The Body field for methods with a body only; hidden, it is also disabled, so it is not
     sent (and what was typed in it comes back if the method is switched back). */
  function followMethod(form) {
    var method = field(form, "method");
    var body = field(form, "body");
    var row = rowOf(body);
    function apply() {
      var wanted = METHODS_WITH_BODY.indexOf(method.value) >= 0;
      row.hidden = !wanted;
      body.disabled = !wanted;
      syncDependencies(form);
    }
    method.addEventListener("change", apply);
    // As the server drew it: a body typed for another method (an error to see) stays shown.
    body.disabled = row.hidden;
  }

  function slugify(text) {
    return text.normalize("NFKD").replace(/[\u0300-\u036f]/g, "").toLowerCase()
      .replace(/[^a-z0-9_-]+/g, "-").replace(/-{2,}/g, "-")
      .replace(/^[-_]+/, "").slice(0, 100).replace(/-+$/, "");
  }

  /* A new item's Key is derived from its Name until the user types in Key (emptying Key
     hands it back to the Name). */
  function deriveKey(form) {
    if (!form.hasAttribute("data-derive-key")) return;
    var name = field(form, "name");
    var key = field(form, "key");
    var derived = key.value === "" || key.value === slugify(name.value);
    name.addEventListener("input", function () {
      if (derived) key.value = slugify(name.value);
    });
    key.addEventListener("input", function () { derived = key.value === ""; });
  }

  function labelOf(form, name) {
    var label = form.querySelector('label[for="id_' + name + '"]');
    return label ? label.textContent.replace(/:\s*$/, "") : name;
  }

  function describe(input, id, on) {
    var ids = (input.getAttribute("aria-describedby") || "").split(/\s+/).filter(function (x) { return x && x !== id; });
    if (on) ids.push(id);
    if (ids.length) input.setAttribute("aria-describedby", ids.join(" "));
    else input.removeAttribute("aria-describedby");
  }

  /* What the last preview said under the fields (errors, warnings), removed. */
  function clearNotes(form, name) {
    var selector = name ? '[data-preview-note="' + name + '"]' : "[data-preview-note]";
    Array.prototype.forEach.call(form.querySelectorAll(selector), function (note) {
      var input = field(form, note.dataset.previewNote);
      if (input) {
        describe(input, note.id, false);
        if (note.classList.contains("errorlist") && !rowOf(input).querySelector(".errorlist:not([data-preview-note])")) {
          input.removeAttribute("aria-invalid");
          rowOf(input).classList.remove("errors");
        }
      }
      note.remove();
    });
    var box = form.querySelector("#preview-warnings");
    Array.prototype.forEach.call(box.querySelectorAll(name ? 'li[data-field="' + name + '"]' : "li"), function (li) { li.remove(); });
    box.hidden = !box.querySelector("li");
  }

  function noteUnder(form, name, kind, messages) {
    var input = field(form, name);
    if (!input) return null;
    var note;
    if (kind === "error") {
      note = document.createElement("ul");
      note.className = "errorlist";
      messages.forEach(function (message) {
        var li = document.createElement("li");
        li.textContent = message;
        note.appendChild(li);
      });
      input.setAttribute("aria-invalid", "true");
      rowOf(input).classList.add("errors");
    } else {
      note = document.createElement("div");
      note.className = "pb-field-warning";
      note.textContent = messages.join(" ");
    }
    note.id = "id_" + name + "_preview_" + kind;
    note.dataset.previewNote = name;
    var after = rowOf(input).querySelector(".flex-container");
    after.parentNode.insertBefore(note, after.nextSibling);
    describe(input, note.id, true);
    return input;
  }

  function showError(form, text, errors) {
    var box = form.querySelector("#preview-error");
    box.textContent = "";
    var first = null, named = [], other = [];
    Object.keys(errors || {}).forEach(function (name) {
      var input = noteUnder(form, name, "error", errors[name]);
      if (input) {
        named.push(labelOf(form, name));
        first = first || input;
      } else {
        other.push(errors[name].join(" "));
      }
    });
    if (named.length) {
      text = "The preview needs a complete item: correct " + named.join(", ") + " (marked above)." + (other.length ? " " + other.join(" ") : "");
    } else if (other.length) {
      text = text + " " + other.join(" ");
    }
    box.textContent = text;
    box.hidden = false;
    if (first) first.focus();
  }

  /* The dependency values the preview lacked: marked, the first one focused. */
  function markEmptyDependencies(form) {
    var first = null;
    Array.prototype.forEach.call(form.querySelectorAll("#dependency-inputs input"), function (input) {
      if (input.value.trim()) return;
      input.setAttribute("aria-invalid", "true");
      first = first || input;
    });
    if (first) first.focus();
  }

  function showWarnings(form, warnings) {
    var box = form.querySelector("#preview-warnings");
    var list = box.querySelector("ul");
    list.textContent = "";
    var byField = {};
    warnings.forEach(function (warning) {
      var li = document.createElement("li");
      li.textContent = warning.label + ": " + warning.message;
      li.dataset.field = warning.field;
      list.appendChild(li);
      (byField[warning.field] = byField[warning.field] || []).push(warning.message);
    });
    Object.keys(byField).forEach(function (name) { noteUnder(form, name, "warning", byField[name]); });
    box.hidden = !warnings.length;
  }

  function optionText(option) {
    return (option.label === "" ? "(empty label)" : option.label) + "  [" + (option.value === "" ? "empty value" : option.value) + "]";
  }

  function preview(form) {
    var status = form.querySelector("#preview-status");
    var result = form.querySelector("#preview-result");
    var select = form.querySelector("#preview-select");
    var raw = form.querySelector("#preview-raw");
    var button = form.querySelector("#preview-button");
    var errorBox = form.querySelector("#preview-error");
    button.disabled = true;
    clearNotes(form);
    Array.prototype.forEach.call(form.querySelectorAll("#dependency-inputs input[aria-invalid]"), function (input) {
      input.removeAttribute("aria-invalid");
    });
    errorBox.hidden = true;
    showWarnings(form, []);
    result.hidden = true;
    status.textContent = "Calling the data source…";
    var body = new FormData(form);
    fetch(form.dataset.previewUrl, {
      method: "POST", body: body, credentials: "same-origin",
      headers: {"X-CSRFToken": body.get("csrfmiddlewaretoken"), "Accept": "application/json"}
    }).then(function (response) { return response.json(); }).then(function (data) {
      select.textContent = "";
      (data.options || []).forEach(function (option) {
        var el = document.createElement("option");
        el.value = option.value;
        el.textContent = optionText(option);
        select.appendChild(el);
      });
      raw.textContent = data.raw || "";
      result.hidden = !data.raw && !(data.options || []).length;
      if (data.ok) {
        status.textContent = data.request + " → " + data.status_code + " in " + data.elapsed_ms + " ms: " + data.count + " option" + (data.count === 1 ? "" : "s") + ".";
        showWarnings(form, data.warnings || []);
      } else {
        status.textContent = data.request ? data.request + " → " + (data.status_code || "no answer") + "." : "";
        showError(form, data.message || "The preview failed.", data.errors);
        if (data.code === "missing_dependency") markEmptyDependencies(form);
      }
    }).catch(function () {
      status.textContent = "";
      showError(form, "Could not reach Plugboard: check your connection and try again.", null);
    }).finally(function () { button.disabled = false; });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("item-form");
    if (!form) return;
    ["path", "body"].forEach(function (name) {
      field(form, name).addEventListener("input", function () { syncDependencies(form); });
    });
    // A warning or error from the last preview is out of date once its field is edited.
    ["value", "label"].forEach(function (name) {
      field(form, name).addEventListener("input", function () { clearNotes(form, name); });
    });
    followMethod(form);
    deriveKey(form);
    syncDependencies(form);
    var button = form.querySelector("#preview-button");
    if (button) button.addEventListener("click", function () { preview(form); });
    form.querySelectorAll("button[data-confirm]").forEach(function (confirmed) {
      confirmed.addEventListener("click", function (event) {
        if (!window.confirm(confirmed.dataset.confirm)) event.preventDefault();
      });
    });
  });
})();
