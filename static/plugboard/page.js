/* What every page does: the Menu button that opens the tenant's navigation on a phone, the
   state of the sidebar's own toggle for assistive technology, and, on a phone, tables too wide
   for the screen shown as a stack of cards (each cell labelled with its column's name). */
(function () {
  "use strict";

  var PHONE = window.matchMedia("(max-width: 767px)");

  function setupMenu() {
    var button = document.getElementById("pb-menu-button");
    var nav = document.getElementById("nav-sidebar");
    if (!button || !nav) return;

    function isOpen() { return button.getAttribute("aria-expanded") === "true"; }
    function open(yes) {
      button.setAttribute("aria-expanded", yes ? "true" : "false");
      document.body.classList.toggle("pb-menu-open", yes);
    }
    function firstInNav() {
      return Array.prototype.find.call(nav.querySelectorAll("input, a[href], button"), function (element) {
        return element.getClientRects().length > 0;
      });
    }

    button.hidden = false;  // shown only where it works: this script runs
    button.addEventListener("click", function () { open(!isOpen()); });
    // The navigation opens below the header and the breadcrumbs: Tab goes from the button
    // straight into it, and Shift+Tab from its first field back to the button.
    button.addEventListener("keydown", function (event) {
      if (event.key !== "Tab" || event.shiftKey || !isOpen()) return;
      var first = firstInNav();
      if (first) { event.preventDefault(); first.focus(); }
    });
    nav.addEventListener("keydown", function (event) {
      if (event.key !== "Tab" || !event.shiftKey || !isOpen()) return;
      if (document.activeElement !== firstInNav()) return;
      event.preventDefault();
      button.focus();
    });
    document.addEventListener("keydown", function (event) {
      if (event.key !== "Escape" || !isOpen()) return;
      var focused = document.activeElement;
      if (focused !== button && !nav.contains(focused)) return;
      // Escape in the quick filter first clears what was typed (the admin's script does that).
      if (focused && focused.id === "nav-filter" && focused.value) return;
      open(false);
      button.focus();
    });
    // A page restored by the Back button starts with the menu closed, as a new one does.
    window.addEventListener("pageshow", function (event) { if (event.persisted) open(false); });
  }

  function setupSidebarToggle() {
    var toggle = document.getElementById("toggle-nav-sidebar");
    var main = document.getElementById("main");
    if (!toggle || !main) return;
    function sync() {
      toggle.setAttribute("aria-expanded", main.classList.contains("shifted") ? "true" : "false");
    }
    toggle.addEventListener("click", sync);  // after the admin's own handler, which ran first
    sync();
  }

  /* Tables: a table with column headings whose width overflows its box gets, on a phone, the
     class pb-reflow (plugboard.css lays it out as cards, its cells get data-label), and on a
     wider screen the class pb-scroll (it scrolls sideways in its own box, the page does not).
     Tables that label their own cells, sit in a box that scrolls, or have the class
     pb-no-reflow are left alone. */
  function columnNames(table) {
    var head = table.tHead;
    if (!head || !head.rows.length) return null;
    var cells = head.rows[head.rows.length - 1].cells;
    if (cells.length < 2) return null;
    return Array.prototype.map.call(cells, function (cell) {
      // A heading only screen readers hear ("Actions" over buttons) labels nothing on screen.
      var shown = cell.cloneNode(true);
      Array.prototype.forEach.call(shown.querySelectorAll(".visually-hidden"), function (hidden) {
        hidden.remove();
      });
      return shown.textContent.replace(/\s+/g, " ").trim();
    });
  }

  function isEmpty(cell) {
    return !cell.textContent.trim() && !cell.querySelector("input, select, textarea, button, img, svg");
  }

  function label(table, names) {
    Array.prototype.forEach.call(table.tBodies, function (body) {
      Array.prototype.forEach.call(body.rows, function (row) {
        var column = 0;
        Array.prototype.forEach.call(row.cells, function (cell) {
          if (!cell.hasAttribute("data-label")) cell.setAttribute("data-label", names[column] || "");
          cell.toggleAttribute("data-pb-empty", isEmpty(cell));
          column += cell.colSpan || 1;
        });
      });
    });
  }

  function candidates(root) {
    return Array.prototype.filter.call(root.querySelectorAll("table"), function (table) {
      if (table.classList.contains("pb-no-reflow")) return false;
      var overflow = window.getComputedStyle(table.parentElement).overflowX;
      if (overflow === "auto" || overflow === "scroll") return false;  // it scrolls in its box
      if (!table.hasAttribute("data-pb-cards") && table.querySelector("td[data-label], th[data-label]")) {
        return false;  // labelled by its own template, laid out by its own rules
      }
      return columnNames(table) !== null;
    });
  }

  function fit() {
    var root = document.getElementById("content-main") || document.getElementById("content");
    if (!root) return;
    var tables = candidates(root);
    tables.forEach(function (table) { table.classList.remove("pb-reflow", "pb-scroll"); });
    // In document order, so that a table inside a reflowed table is measured in its card.
    tables.forEach(function (table) {
      var box = table.parentElement;
      if (!table.offsetWidth || table.offsetWidth <= box.clientWidth + 1) return;
      if (!PHONE.matches) {
        table.classList.add("pb-scroll");
        return;
      }
      table.setAttribute("data-pb-cards", "");
      label(table, columnNames(table));
      table.classList.add("pb-reflow");
    });
  }

  var pending = false;
  function fitSoon() {
    if (pending) return;
    pending = true;
    window.requestAnimationFrame(function () { pending = false; fit(); });
  }

  function setupTables() {
    fit();
    window.addEventListener("resize", fitSoon);
    // A <details> opened shows what was not measured; pages that update themselves add rows.
    document.addEventListener("toggle", fitSoon, true);
    var root = document.getElementById("content-main");
    if (root && window.MutationObserver) {
      new MutationObserver(fitSoon).observe(root, {childList: true, subtree: true});
    }
  }

  function setup() {
    setupMenu();
    setupSidebarToggle();
    setupTables();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", setup);
  else setup();
})();
