// usersync console: the only script. Pages work without it; with it, a
// running run's page shows its progress live (polling the progress JSON)
// and reloads when the run ends.
"use strict";
(function () {
  var box = document.getElementById("progress");
  if (!box) return;
  var url = box.getAttribute("data-url");
  function set(id, text) {
    var el = document.getElementById(id);
    if (el) el.textContent = text;
  }
  function secs(s) {
    if (s < 60) return Math.ceil(s) + " s";
    return Math.floor(s / 60) + " min " + Math.ceil(s % 60) + " s";
  }
  function tick() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (p) {
        if (!p) { setTimeout(tick, 2000); return; }
        if (p.done) { window.location.reload(); return; }
        set("p-phase", p.phase);
        set("p-read", p.read + " users, " + p.groups + " groups");
        set("p-rate", p.rate ? Math.round(p.rate) + " records/s" : "—");
        set("p-eta", p.eta_s != null ? secs(p.eta_s) : (p.phase === "reading" ? "unknown (no earlier run to compare)" : "—"));
        var bar = document.getElementById("p-bar");
        if (bar && p.expected) bar.value = Math.min(100, (100 * p.read) / p.expected);
        setTimeout(tick, 500);
      })
      .catch(function () { setTimeout(tick, 2000); });
  }
  tick();
})();
