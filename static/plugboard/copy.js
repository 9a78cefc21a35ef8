/* Copy buttons: <button data-copy-target="<input id>" data-copy-status="<live region id>">.
   The clipboard API where the page may use it, else the selection and execCommand; the result
   is said in the live region ("Copied", or how to copy by hand). */
(function () {
  "use strict";

  function say(status, text) {
    if (!status) return;
    // Emptied first, so that a second copy is announced again.
    status.textContent = "";
    window.setTimeout(function () { status.textContent = text; }, 50);
  }

  function copyBySelection(input) {
    input.focus();
    input.select();
    try { return document.execCommand("copy"); } catch (e) { return false; }
  }

  function setup() {
    document.querySelectorAll("[data-copy-target]").forEach(function (button) {
      var input = document.getElementById(button.dataset.copyTarget);
      var status = document.getElementById(button.dataset.copyStatus);
      if (!input) return;
      button.addEventListener("click", function () {
        var text = input.value;
        function done(ok) {
          say(status, ok ? "Copied to the clipboard." : "Could not copy: select the text and press Ctrl+C (⌘C).");
        }
        if (navigator.clipboard && window.isSecureContext) {
          navigator.clipboard.writeText(text).then(function () { done(true); },
            function () { done(copyBySelection(input)); });
        } else {
          done(copyBySelection(input));
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
