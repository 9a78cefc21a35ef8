/* The data source page's "Try it": sends the form to the page's try endpoint (the proxy's own
   service) and shows the status, headers and body it answers. */
(function () {
  "use strict";

  function setup() {
    var form = document.getElementById("try-it");
    if (!form) return;
    var method = form.querySelector("#try-method");
    var bodyRow = form.querySelector("#try-body-row");
    var result = form.querySelector("#try-result");
    var status = form.querySelector("#try-status");
    var headers = form.querySelector("#try-headers");
    var response = form.querySelector("#try-response");
    var send = form.querySelector("#try-send");

    function showBody() { bodyRow.hidden = method.value === "GET" || method.value === "DELETE"; }
    method.addEventListener("change", showBody);
    showBody();

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      send.disabled = true;
      result.hidden = false;
      status.textContent = "Sending…";
      headers.textContent = "";
      response.textContent = "";
      fetch(form.action, {method: "POST", body: new FormData(form), credentials: "same-origin"})
        .then(function (r) { return r.json(); })
        .then(function (data) {
          if (!data.ok) {
            status.textContent = (data.status ? data.status + " — " : "") + data.message;
            return;
          }
          status.textContent = "HTTP " + data.status + (data.truncated ? " (body shortened)" : "");
          headers.textContent = data.headers.map(function (h) { return h[0] + ": " + h[1]; }).join("\n");
          response.textContent = data.body;
        })
        .catch(function () { status.textContent = "The request could not be sent."; })
        .then(function () { send.disabled = false; });
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", setup);
  else setup();
})();
