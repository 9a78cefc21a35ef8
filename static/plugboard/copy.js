/* Copy buttons: <button data-copy-target="<element id>" data-copy-status="<live region id>">.
   The target is a field (its value is copied) or any other element, like a <pre> (its text).
   The clipboard API where the page may use it, else the selection and execCommand; the result
   is said in the live region ("Copied", or how to copy by hand). */
(function () {
  "use strict";

  function isField(element) {
    return element.tagName === "INPUT" || element.tagName === "TEXTAREA";
  }

  function textOf(element) {
    return isField(element) ? element.value : element.textContent;
  }

  function say(status, text) {
    if (!status) return;
    // Emptied first, so that a second copy is announced again.
    status.textContent = "";
    window.setTimeout(function () { status.textContent = text; }, 50);
  }

  function copyBySelection(element) {
    if (isField(element)) {
      element.focus();
      element.select();
    } else {
      var range = document.createRange();
      range.selectNodeContents(element);
      var selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
    }
    try { return document.execCommand("copy"); } catch (e) { return false; }
  }

  function setup() {
    document.querySelectorAll("[data-copy-target]").forEach(function (button) {
      var target = document.getElementById(button.dataset.copyTarget);
      var status = document.getElementById(button.dataset.copyStatus);
      if (!target) return;
      button.addEventListener("click", function () {
        var text = textOf(target);
        function done(ok) {
          say(status, ok ? "Copied to the clipboard." : "Could not copy: select the text and press Ctrl+C (⌘C).");
        }
        if (navigator.clipboard && window.isSecureContext) {
          navigator.clipboard.writeText(text).then(function () { done(true); },
            function () { done(copyBySelection(target)); });
        } else {
          done(copyBySelection(target));
        }
      });
    });
    document.querySelectorAll("input[data-select-on-focus]").forEach(function (input) {
      input.addEventListener("focus", function () { input.select(); });
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", setup);
  else setup();
})();
