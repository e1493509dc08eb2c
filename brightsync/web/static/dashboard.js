// BrightSync dashboard: confirm risky actions, keep a user's service cards fresh.
(function () {
  "use strict";
  document.addEventListener("submit", function (event) {
    var button = event.submitter || event.target.querySelector("button");
    var question = button && button.getAttribute("data-confirm");
    if (question && !window.confirm(question)) { event.preventDefault(); }
  });

  var services = document.getElementById("services");
  if (!services) { return; }
  var url = services.getAttribute("data-status-url");
  function text(value) {
    if (value === null || value === undefined || value === "") { return "\u2014"; }
    if (typeof value === "object") {
      var parts = Object.keys(value).map(function (k) { return k + " " + value[k]; });
      return parts.length ? parts.join(", ") : "\u2014";
    }
    var s = String(value);
    return /^\d{4}-\d\d-\d\dT/.test(s) ? s.replace("T", " ").slice(0, 19) : s;
  }
  function refresh() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (!data) { return; }
        Object.keys(data.services).forEach(function (name) {
          var card = services.querySelector('[data-service="' + name + '"]');
          if (!card) { return; }
          var status = data.services[name];
          card.querySelectorAll("[data-field]").forEach(function (el) {
            var field = el.getAttribute("data-field");
            el.textContent = text(status[field]);
            if (field === "health") { el.className = "pill h-" + status.health; }
          });
        });
      })
      .catch(function () { /* next tick tries again */ });
  }
  setInterval(refresh, 1500);
})();
