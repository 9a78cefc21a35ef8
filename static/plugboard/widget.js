/*!
 * Plugboard connected-field widget. No framework, no dependencies.
 *
 *   <select data-plugboard-item="asset" data-plugboard-api="https://host/api/v1"
 *           data-plugboard-key="<widget key>" data-plugboard-depends="project=#project"></select>
 *   <script src="https://host/static/plugboard/widget.js" defer></script>
 *
 * The <select> stays the form field; the widget puts an ARIA combobox (an editable input with a
 * list box) in front of it. It loads the options, reloads them when a dependency changes,
 * searches as you type (the API's q parameter, answered from Plugboard's cache), shows loading,
 * empty and error states, and works with the keyboard alone.
 */
(function () {
  "use strict";

  var STYLE_ID = "plugboard-widget-style";
  var CSS = [
    ".pbw{position:relative;display:inline-block;min-width:18em;font:inherit}",
    ".pbw-input{box-sizing:border-box;width:100%;padding:.35em 2em .35em .5em;font:inherit;border:1px solid #8a8a8a;border-radius:4px}",
    ".pbw-input:focus{outline:2px solid #2563eb;outline-offset:1px}",
    ".pbw-input[disabled]{background:#f3f3f3;color:#777}",
    ".pbw-toggle{position:absolute;right:.25em;top:50%;transform:translateY(-50%);border:0;background:none;cursor:pointer;font-size:1em;padding:0 .3em;color:#444}",
    ".pbw-list{position:absolute;z-index:1000;left:0;right:0;margin:2px 0 0;padding:0;list-style:none;max-height:16em;overflow:auto;background:#fff;border:1px solid #8a8a8a;border-radius:4px;box-shadow:0 4px 12px rgba(0,0,0,.15)}",
    ".pbw-option{padding:.35em .5em;cursor:pointer}",
    ".pbw-option[aria-selected=true]{font-weight:600}",
    ".pbw-option.pbw-active{background:#2563eb;color:#fff}",
    ".pbw-status{font-size:.85em;color:#555;min-height:1.2em;margin-top:2px}",
    ".pbw[data-state=error] .pbw-status{color:#b91c1c}",
    ".pbw[data-state=loading] .pbw-input{background-image:linear-gradient(90deg,#fff,#eef2ff,#fff);background-size:200% 100%;animation:pbw-pulse 1s linear infinite}",
    "@keyframes pbw-pulse{from{background-position:200% 0}to{background-position:0 0}}",
    ".pbw-retry{margin-left:.5em;font:inherit;font-size:1em;cursor:pointer}",
    ".pbw-hidden{position:absolute!important;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}"
  ].join("\n");

  var counter = 0;

  function injectStyle() {
    if (document.getElementById(STYLE_ID)) return;
    var style = document.createElement("style");
    style.id = STYLE_ID;
    style.textContent = CSS;
    document.head.appendChild(style);
  }

  function parseDepends(spec) {
    // "project=#project, type=#issue-type" -> [{name, selector}]
    return (spec || "").split(",").map(function (part) {
      var pair = part.split("=");
      return {name: (pair[0] || "").trim(), selector: pair.slice(1).join("=").trim()};
    }).filter(function (d) { return d.name && d.selector; });
  }

  function labelFor(select) {
    if (select.id) {
      var label = document.querySelector('label[for="' + select.id + '"]');
      if (label) return label;
    }
    return select.closest("label");
  }

  function Widget(select) {
    this.select = select;
    this.item = select.getAttribute("data-plugboard-item");
    this.api = (select.getAttribute("data-plugboard-api") || "").replace(/\/+$/, "");
    this.key = select.getAttribute("data-plugboard-key") || "";
    this.tenant = select.getAttribute("data-plugboard-tenant") || "";
    this.limit = parseInt(select.getAttribute("data-plugboard-limit") || "100", 10);
    this.depends = parseDepends(select.getAttribute("data-plugboard-depends"));
    this.options = [];
    this.active = -1;
    this.request = null;
    this.timer = null;
    this.id = "pbw-" + (++counter);
    this.build();
    this.bind();
    this.reload("");
  }

  Widget.prototype.build = function () {
    var select = this.select;
    var root = document.createElement("div");
    root.className = "pbw";
    root.setAttribute("data-state", "idle");

    var input = document.createElement("input");
    input.type = "text";
    input.className = "pbw-input";
    input.id = this.id + "-input";
    input.setAttribute("role", "combobox");
    input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-expanded", "false");
    input.setAttribute("aria-controls", this.id + "-list");
    input.setAttribute("aria-describedby", this.id + "-status");
    input.setAttribute("autocomplete", "off");
    if (select.required) input.setAttribute("aria-required", "true");
    var label = labelFor(select);
    if (label) {
      if (!label.id) label.id = this.id + "-label";
      input.setAttribute("aria-labelledby", label.id);
      if (label.htmlFor === select.id) label.htmlFor = input.id;
    } else {
      input.setAttribute("aria-label", select.getAttribute("aria-label") || this.item);
    }
    input.placeholder = select.getAttribute("data-plugboard-placeholder") || "Type to search…";

    var toggle = document.createElement("button");
    toggle.type = "button";
    toggle.className = "pbw-toggle";
    toggle.tabIndex = -1;
    toggle.setAttribute("aria-label", "Show options");
    toggle.textContent = "▾";

    var list = document.createElement("ul");
    list.className = "pbw-list";
    list.id = this.id + "-list";
    list.setAttribute("role", "listbox");
    if (label) list.setAttribute("aria-labelledby", label.id);
    list.hidden = true;

    var status = document.createElement("div");
    status.className = "pbw-status";
    status.id = this.id + "-status";
    status.setAttribute("role", "status");
    status.setAttribute("aria-live", "polite");

    root.appendChild(input);
    root.appendChild(toggle);
    root.appendChild(list);
    root.appendChild(status);
    select.parentNode.insertBefore(root, select.nextSibling);
    select.classList.add("pbw-hidden");
    select.setAttribute("aria-hidden", "true");
    select.tabIndex = -1;

    this.root = root;
    this.input = input;
    this.toggle = toggle;
    this.list = list;
    this.status = status;
  };

  Widget.prototype.bind = function () {
    var self = this;
    this.input.addEventListener("input", function () {
      self.open();
      clearTimeout(self.timer);
      self.timer = setTimeout(function () { self.reload(self.input.value); }, 250);
    });
    this.input.addEventListener("keydown", function (event) { self.onKey(event); });
    this.input.addEventListener("focus", function () { self.input.select(); });
    this.input.addEventListener("click", function () { self.open(); });
    this.input.addEventListener("blur", function () {
      setTimeout(function () {
        if (!self.root.contains(document.activeElement)) {
          self.close();
          self.showSelected();
        }
      }, 150);
    });
    this.toggle.addEventListener("click", function () {
      if (self.list.hidden) { self.open(); self.input.focus(); } else { self.close(); }
    });
    this.list.addEventListener("mousedown", function (event) { event.preventDefault(); });
    this.list.addEventListener("click", function (event) {
      var li = event.target.closest("[role=option]");
      if (li) self.choose(parseInt(li.getAttribute("data-index"), 10));
    });
    this.depends.forEach(function (dep) {
      var field = document.querySelector(dep.selector);
      if (!field) return;
      var onChange = function () {
        // A text field fires "input" while typing and "change" when left: reload once per value.
        var key = JSON.stringify(self.dependencyValues());
        if (key === self.loadedFor) return;
        self.clearSelection();
        self.reload("");
      };
      field.addEventListener("change", onChange);
      if (field.tagName === "INPUT") {
        var t = null;
        field.addEventListener("input", function () { clearTimeout(t); t = setTimeout(onChange, 400); });
      }
    });
  };

  Widget.prototype.dependencyValues = function () {
    var values = {}, missing = [];
    this.depends.forEach(function (dep) {
      var field = document.querySelector(dep.selector);
      var value = field ? field.value : "";
      if (value) values[dep.name] = value; else missing.push(dep.name);
    });
    return {values: values, missing: missing};
  };

  Widget.prototype.setState = function (state, message) {
    this.root.setAttribute("data-state", state);
    this.input.setAttribute("aria-busy", state === "loading" ? "true" : "false");
    this.status.textContent = message || "";
  };

  Widget.prototype.reload = function (q) {
    var self = this;
    var deps = this.dependencyValues();
    this.loadedFor = JSON.stringify(deps);
    if (deps.missing.length) {
      if (this.request) this.request.abort();
      this.options = [];
      this.render();
      this.input.disabled = true;
      this.setState("waiting", "Choose " + deps.missing.join(", ") + " first.");
      return;
    }
    this.input.disabled = false;
    var params = new URLSearchParams(deps.values);
    if (q) params.set("q", q);
    if (this.limit) params.set("limit", String(this.limit));
    var url = this.api + "/items/" + encodeURIComponent(this.item) + "/options/?" + params.toString();
    var headers = {"Accept": "application/json"};
    if (this.key) headers["Authorization"] = "Bearer " + this.key;
    if (this.tenant) headers["X-Plugboard-Tenant"] = this.tenant;
    if (this.request) this.request.abort();
    var controller = typeof AbortController !== "undefined" ? new AbortController() : null;
    this.request = controller;
    this.setState("loading", "Loading options…");
    fetch(url, {
      headers: headers,
      credentials: this.key ? "omit" : "same-origin",
      mode: "cors",
      signal: controller ? controller.signal : undefined
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (body) {
        if (!response.ok) {
          var error = body && body.error;
          throw new Error(error && error.message ? error.message : "Options could not be loaded (HTTP " + response.status + ").");
        }
        return body;
      });
    }).then(function (body) {
      if (self.request !== controller) return;
      self.options = body.options || [];
      self.syncSelect();
      self.render();
      var count = self.options.length;
      var stale = body.cache === "stale" ? " (from a moment ago: the source is not answering)" : "";
      self.setState(count ? "ready" : "empty",
        (count ? count + (count === 1 ? " option" : " options") : (q ? "No options match “" + q + "”." : "No options.")) + stale);
    }).catch(function (error) {
      if (error && error.name === "AbortError") return;
      self.options = [];
      self.render();
      self.setState("error", (error && error.message && error.message !== "Failed to fetch")
        ? error.message : "Options could not be loaded: the service is unreachable.");
      var retry = document.createElement("button");
      retry.type = "button";
      retry.className = "pbw-retry";
      retry.textContent = "Retry";
      retry.addEventListener("click", function () { self.reload(self.input.value === self.selectedLabel() ? "" : self.input.value); self.input.focus(); });
      self.status.appendChild(retry);
    });
  };

  Widget.prototype.syncSelect = function () {
    // Keep the real <select> holding the chosen option plus the loaded ones, for the form.
    var select = this.select, current = select.value;
    var keep = current ? Array.prototype.filter.call(select.options, function (o) { return o.value === current; })[0] : null;
    select.textContent = "";
    var blank = document.createElement("option");
    blank.value = "";
    blank.textContent = "";
    select.appendChild(blank);
    var seen = false;
    this.options.forEach(function (option) {
      var el = document.createElement("option");
      el.value = option.value;
      el.textContent = option.label;
      if (option.value === current) { el.selected = true; seen = true; }
      select.appendChild(el);
    });
    if (current && !seen && keep) { keep.selected = true; select.appendChild(keep); }
  };

  Widget.prototype.render = function () {
    var list = this.list, self = this;
    list.textContent = "";
    this.active = -1;
    this.input.removeAttribute("aria-activedescendant");
    this.options.forEach(function (option, index) {
      var li = document.createElement("li");
      li.className = "pbw-option";
      li.id = self.id + "-opt-" + index;
      li.setAttribute("role", "option");
      li.setAttribute("data-index", String(index));
      li.setAttribute("data-value", option.value);
      li.setAttribute("aria-selected", option.value === self.select.value ? "true" : "false");
      li.textContent = option.label;
      list.appendChild(li);
    });
    if (!this.options.length) this.close();
  };

  Widget.prototype.open = function () {
    if (!this.options.length) return;
    this.list.hidden = false;
    this.input.setAttribute("aria-expanded", "true");
  };

  Widget.prototype.close = function () {
    this.list.hidden = true;
    this.input.setAttribute("aria-expanded", "false");
    this.input.removeAttribute("aria-activedescendant");
    this.highlight(-1);
  };

  Widget.prototype.highlight = function (index) {
    var items = this.list.querySelectorAll("[role=option]");
    if (this.active >= 0 && items[this.active]) items[this.active].classList.remove("pbw-active");
    this.active = index;
    if (index >= 0 && items[index]) {
      items[index].classList.add("pbw-active");
      this.input.setAttribute("aria-activedescendant", items[index].id);
      items[index].scrollIntoView({block: "nearest"});
    }
  };

  Widget.prototype.move = function (delta) {
    var count = this.options.length;
    if (!count) return;
    this.open();
    var next = this.active < 0 ? (delta > 0 ? 0 : count - 1) : (this.active + delta + count) % count;
    this.highlight(next);
  };

  Widget.prototype.onKey = function (event) {
    switch (event.key) {
      case "ArrowDown":
        event.preventDefault();
        if (event.altKey) { this.open(); } else { this.move(1); }
        break;
      case "ArrowUp":
        event.preventDefault();
        this.move(-1);
        break;
      case "Home":
        if (!this.list.hidden) { event.preventDefault(); this.highlight(0); }
        break;
      case "End":
        if (!this.list.hidden) { event.preventDefault(); this.highlight(this.options.length - 1); }
        break;
      case "Enter":
        if (!this.list.hidden && this.active >= 0) { event.preventDefault(); this.choose(this.active); }
        break;
      case "Escape":
        if (!this.list.hidden) { event.preventDefault(); this.close(); }
        else if (this.input.value) { event.preventDefault(); this.showSelected(); }
        break;
      case "Tab":
        this.close();
        break;
      default:
        break;
    }
  };

  Widget.prototype.selectedLabel = function () {
    var option = this.select.options[this.select.selectedIndex];
    return option && option.value ? option.textContent : "";
  };

  Widget.prototype.showSelected = function () {
    this.input.value = this.selectedLabel();
  };

  Widget.prototype.choose = function (index) {
    var option = this.options[index];
    if (!option) return;
    this.select.value = option.value;
    this.input.value = option.label;
    this.close();
    var items = this.list.querySelectorAll("[role=option]");
    Array.prototype.forEach.call(items, function (li) {
      li.setAttribute("aria-selected", li.getAttribute("data-value") === option.value ? "true" : "false");
    });
    this.status.textContent = option.label + " selected.";
    this.select.dispatchEvent(new Event("change", {bubbles: true}));
  };

  Widget.prototype.clearSelection = function () {
    if (!this.select.value) return;
    this.select.value = "";
    this.input.value = "";
    this.select.dispatchEvent(new Event("change", {bubbles: true}));
  };

  function start() {
    injectStyle();
    var selects = document.querySelectorAll("select[data-plugboard-item]");
    Array.prototype.forEach.call(selects, function (select) {
      if (!select.__plugboard) select.__plugboard = new Widget(select);
    });
  }

  window.Plugboard = window.Plugboard || {};
  window.Plugboard.start = start;
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
