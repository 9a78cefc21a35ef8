/* Widget demo page: the form is never sent; the chosen value is shown under it. No inline
   script or handler, so that a strict Content-Security-Policy can hold here too. */
(function () {
  "use strict";
  document.getElementById("demo-form").addEventListener("submit", function (event) {
    event.preventDefault();
  });
  document.addEventListener("change", function (event) {
    if (event.target.id === "demo-field") {
      document.getElementById("demo-value").textContent = event.target.value || "—";
    }
  });
})();
