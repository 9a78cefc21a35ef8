/* API keys page: Revoke asks first (the form's data-confirm), a refused create focuses the field
   in error, and the allowed origins are shown only for widget keys (hidden and not sent for an
   admin key, so what was typed comes back when the scope is switched again). */
(function () {
  "use strict";

  function setup() {
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.dataset.confirm)) event.preventDefault();
      });
    });
    // After a refused create: the first field in error takes the focus.
    var invalid = document.querySelector('#api-key-form [aria-invalid="true"]');
    if (invalid) invalid.focus();
    var scope = document.getElementById("id_scope");
    var origins = document.getElementById("id_allowed_origins");
    if (!scope || !origins) return;
    var row = origins.closest(".form-row");
    function follow() {
      var widget = scope.value === "widget";
      row.hidden = !widget;
      origins.disabled = !widget;
    }
    scope.addEventListener("change", follow);
    follow();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", setup);
  else setup();
})();
