// Seats in sessions with a capacity without leaving the page: the schedule's
// seat forms post as they would without this script, asking for JSON, after
// asking before a place is given up; the answer updates the session's button
// and, through a "livehall:programme" event, the "My programme" list
// (static/js/programme.js). If the request fails the form is submitted the
// plain way, which asks on a page of its own.
(function () {
  "use strict";
  var schedule = document.getElementById("schedule");
  if (!schedule || !window.fetch || !window.FormData) return;

  function field(form, name) { return form.querySelector("input[name=" + name + "]"); }

  schedule.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (!form.matches("form.seat-form")) return;
    ev.preventDefault();
    var button = form.querySelector("button");
    if (button.getAttribute("aria-busy") === "true") return;
    var body = new FormData(form);
    if (field(form, "action").value === "give_up") {
      if (!window.confirm(form.getAttribute("data-confirm-give-up"))) return;
      body.append("confirm", "yes");
    }
    button.setAttribute("aria-busy", "true");
    var notice = document.querySelector("#programme .programme-notice");
    fetch(form.action, {method: "POST", body: body, credentials: "same-origin",
                        headers: {"Accept": "application/json"}})
      .then(function (r) {
        return r.json().then(function (data) { return {ok: r.ok, data: data}; });
      })
      .then(function (res) {
        button.removeAttribute("aria-busy");
        if (notice) notice.textContent = res.data.message || "";
        if (!res.ok) return;
        field(form, "action").value = res.data.action;
        button.textContent = res.data.label;
        var count = form.querySelector(".seat-count");
        if (count) count.textContent = res.data.count;
        var offer = form.querySelector(".seat-offer");
        if (offer && res.data.state !== "offered") offer.remove();
        document.dispatchEvent(new CustomEvent("livehall:programme", {detail: {items: res.data.items || []}}));
      })
      .catch(function () {
        // Not JSON (the gate closed meanwhile, or the network): the plain way.
        button.removeAttribute("aria-busy");
        HTMLFormElement.prototype.submit.call(form);
      });
  });
})();
