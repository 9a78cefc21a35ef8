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
 * empty and error states, and works with the keyboard alone. Its styles are in widget.css, next
 * to this file; the open list is a child of <body>, placed over the page next to the field, so
 * that no ancestor of the field (overflow: hidden, a scrolling box) can clip it.
 */
(function () {
  "use strict";

  // A browser reports a refused cross-origin answer exactly like no answer at all, so the
  // message names both, and what to check.
  var UNREACHABLE = "Options could not be loaded: Plugboard is unreachable or refused this page " +
    "(check the item key and the widget key's allowed origins).";

  // Captured now: document.currentScript is only set while this script first runs.
  var SCRIPT_URL = document.currentScript ? document.currentScript.src : "";
  var STYLESHEET_ID = "plugboard-widget-css";
  var LIST_MAX_EM = 16;  // the open list's tallest, in the field's font size
  var GAP = 4, EDGE = 4;  // px between field and list, and kept clear at the viewport's edges
  var counter = 0;

  function linkStylesheet() {
    // widget.css sits next to widget.js; a <link> (not a <style>) so that a strict CSP holds.
    if (!SCRIPT_URL || document.getElementById(STYLESHEET_ID)) return;
    var link = document.createElement("link");
    link.id = STYLESHEET_ID;
    link.rel = "stylesheet";
    link.href = new URL("widget.css", SCRIPT_URL).href;
    document.head.appendChild(link);
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
      var label = document.querySelector("label[for=" + CSS.escape(select.id) + "]");
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

    var field = document.createElement("div");
    field.className = "pbw-field";
    field.appendChild(input);
    field.appendChild(toggle);
    // The Retry button follows the live region, outside it: only the message is announced.
    var retry = document.createElement("button");
    retry.type = "button";
    retry.className = "pbw-retry";
    retry.textContent = "Retry";
    retry.hidden = true;

    var foot = document.createElement("div");
    foot.className = "pbw-foot";
    foot.appendChild(status);
    foot.appendChild(retry);
    root.appendChild(field);
    root.appendChild(foot);
    select.parentNode.insertBefore(root, select.nextSibling);
    document.body.appendChild(list);
    select.classList.add("pbw-hidden");
    select.setAttribute("aria-hidden", "true");
    select.tabIndex = -1;

    this.root = root;
    this.input = input;
    this.toggle = toggle;
    this.list = list;
    this.status = status;
    this.retry = retry;
  };

  Widget.prototype.bind = function () {
    var self = this;
    // While open, the list follows the field: on any scroll (but the list's own) or resize.
    this.follow = function (event) { if (event.target !== self.list) self.place(); };
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
    this.retry.addEventListener("click", function () {
      self.reload(self.input.value === self.selectedLabel() ? "" : self.input.value);
      self.input.focus();
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
    this.retry.hidden = state !== "error";
  };

  Widget.prototype.setWaiting = function (waiting) {
    // Not disabled: Tab still lands on the field, which describes what to choose first.
    this.input.readOnly = waiting;
    this.toggle.disabled = waiting;
    if (waiting) this.input.setAttribute("aria-disabled", "true");
    else this.input.removeAttribute("aria-disabled");
  };

  Widget.prototype.reload = function (q) {
    var self = this;
    var deps = this.dependencyValues();
    this.loadedFor = JSON.stringify(deps);
    if (deps.missing.length) {
      if (this.request) this.request.abort();
      this.request = null;
      this.options = [];
      this.render();
      this.setWaiting(true);
      this.setState("waiting", "Choose " + deps.missing.join(", ") + " first.");
      return;
    }
    this.setWaiting(false);
    var params = new URLSearchParams(deps.values);
    if (q) params.set("q", q);
    if (this.limit) params.set("limit", String(this.limit));
    var url = this.api + "/items/" + encodeURIComponent(this.item) + "/options/?" + params.toString();
    var headers = {"Accept": "application/json"};
    if (this.key) headers["Authorization"] = "Bearer " + this.key;
    if (this.tenant) headers["X-Plugboard-Tenant"] = this.tenant;
    if (this.request) this.request.abort();
    var controller = this.request = new AbortController();
    this.setState("loading", "Loading options…");
    fetch(url, {
      headers: headers,
      credentials: this.key ? "omit" : "same-origin",
      mode: "cors",
      signal: controller.signal
    }).then(function (response) {
      // An answer, even a proxy's HTML error page, is reported by its HTTP status.
      return response.json().catch(function () { return null; }).then(function (body) {
        if (self.request !== controller) return;
        if (response.ok && body && Array.isArray(body.options)) return self.loaded(body, q);
        var error = !response.ok && body && body.error;
        self.failed(error && error.message ? error.message
          : "Options could not be loaded (HTTP " + response.status + ").");
      });
    }, function () {
      // No answer at all: the network failed, or CORS refused this page's origin.
      if (self.request === controller) self.failed(UNREACHABLE);
    });
  };

  Widget.prototype.loaded = function (body, q) {
    this.options = body.options;
    this.syncSelect();
    this.render();
    var count = this.options.length;
    var stale = body.cache === "stale" ? " (from a moment ago: the source is not answering)" : "";
    this.setState(count ? "ready" : "empty",
      (count ? count + (count === 1 ? " option" : " options") : (q ? "No options match “" + q + "”." : "No options.")) + stale);
  };

  Widget.prototype.failed = function (message) {
    this.options = [];
    this.render();
    this.setState("error", message);
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
      li.setAttribute("aria-selected", "false");
      if (option.value === self.select.value) li.classList.add("pbw-chosen");
      li.textContent = option.label;
      list.appendChild(li);
    });
    if (!this.options.length) this.close();
    else if (!list.hidden) this.place();
  };

  Widget.prototype.open = function () {
    if (!this.options.length || !this.list.hidden) return;
    this.list.hidden = false;
    this.input.setAttribute("aria-expanded", "true");
    window.addEventListener("scroll", this.follow, true);
    window.addEventListener("resize", this.follow);
    this.place();
  };

  Widget.prototype.close = function () {
    this.list.hidden = true;
    this.input.setAttribute("aria-expanded", "false");
    this.input.removeAttribute("aria-activedescendant");
    window.removeEventListener("scroll", this.follow, true);
    window.removeEventListener("resize", this.follow);
    this.highlight(-1);
  };

  Widget.prototype.place = function () {
    // Under the field, as wide as it, inside the viewport; above it when there is more room
    // there and not enough below. Styles go through the CSSOM, which a strict CSP allows.
    var list = this.list, style = list.style, root = document.documentElement;
    var viewWidth = Math.min(root.clientWidth, window.innerWidth);  // without scroll bars,
    var viewHeight = Math.min(root.clientHeight, window.innerHeight);  // also in quirks mode
    var field = this.input.getBoundingClientRect();
    var font = getComputedStyle(this.input);
    style.fontFamily = font.fontFamily;
    style.fontSize = font.fontSize;
    var width = Math.min(field.width, viewWidth - 2 * EDGE);
    style.width = width + "px";
    style.left = Math.max(EDGE, Math.min(field.left, viewWidth - EDGE - width)) + "px";
    var below = viewHeight - field.bottom - GAP - EDGE, above = field.top - GAP - EDGE;
    var borders = list.offsetHeight - list.clientHeight;
    var wanted = Math.min(list.scrollHeight + borders, LIST_MAX_EM * parseFloat(font.fontSize));
    var up = wanted > below && above > below;
    var height = Math.max(0, Math.min(wanted, up ? above : below));
    style.maxHeight = height + "px";
    style.top = (up ? field.top - GAP - height : field.bottom + GAP) + "px";
  };

  Widget.prototype.highlight = function (index) {
    // The active option (aria-activedescendant) is the selected one, as in the APG's list box
    // in a combobox; the value chosen earlier is only marked with the pbw-chosen class.
    var items = this.list.querySelectorAll("[role=option]");
    if (this.active >= 0 && items[this.active]) items[this.active].setAttribute("aria-selected", "false");
    this.active = index;
    if (index >= 0 && items[index]) {
      items[index].setAttribute("aria-selected", "true");
      this.input.setAttribute("aria-activedescendant", items[index].id);
      this.reveal(items[index]);
    }
  };

  Widget.prototype.reveal = function (option) {
    // Scroll the list alone: scrollIntoView would scroll every scrollable ancestor too.
    var list = this.list, top = option.offsetTop, bottom = top + option.offsetHeight;
    if (top < list.scrollTop) list.scrollTop = top;
    else if (bottom > list.scrollTop + list.clientHeight) list.scrollTop = bottom - list.clientHeight;
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
      li.classList.toggle("pbw-chosen", li.getAttribute("data-value") === option.value);
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
    linkStylesheet();
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
