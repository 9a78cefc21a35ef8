/* Connected item page: dependency inputs follow the {placeholders} of path and body, and the
   Preview button shows the options and the raw answer of an unsaved item. */
(function () {
  "use strict";
  var PLACEHOLDER = /\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

  function names(form) {
    var text = (form.querySelector("#id_path").value || "") + " " + (form.querySelector("#id_body").value || "");
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

  function preview(form) {
    var status = form.querySelector("#preview-status");
    var result = form.querySelector("#preview-result");
    var select = form.querySelector("#preview-select");
    var raw = form.querySelector("#preview-raw");
    var button = form.querySelector("#preview-button");
    button.disabled = true;
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
        el.textContent = option.label + "  [" + option.value + "]";
        select.appendChild(el);
      });
      raw.textContent = data.raw || "";
      result.hidden = !data.raw && !(data.options || []).length;
      if (data.ok) {
        status.textContent = data.request + " → " + data.status_code + " in " + data.elapsed_ms + " ms: " + data.count + " options.";
      } else {
        var errors = data.errors ? " " + Object.keys(data.errors).map(function (k) { return k + ": " + data.errors[k].join(" "); }).join("; ") : "";
        status.textContent = (data.message || "The preview failed.") + errors;
      }
    }).catch(function () {
      status.textContent = "Could not reach Plugboard.";
    }).finally(function () { button.disabled = false; });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("item-form");
    if (!form) return;
    ["#id_path", "#id_body"].forEach(function (selector) {
      form.querySelector(selector).addEventListener("input", function () { syncDependencies(form); });
    });
    syncDependencies(form);
    var button = form.querySelector("#preview-button");
    if (button) button.addEventListener("click", function () { preview(form); });
  });
})();
