// "Add to my programme" without leaving the page: the schedule's toggle
// forms post as they would without this script, asking for JSON, and the
// answer (the ids now saved) updates every toggle and the "My programme"
// list. If the request fails the form is submitted the plain way.
(function () {
  "use strict";
  var card = document.getElementById("programme");
  var schedule = document.getElementById("schedule");
  if (!card || !schedule || !window.fetch || !window.FormData) return;
  // Looked up each time: event.js swaps the content of both sections when a
  // day opens or closes (the sections themselves stay).
  function part(selector) { return card.querySelector(selector); }

  function apply(ids) {
    var list = part(".programme-list"), empty = part(".programme-empty");
    var saved = {};
    ids.forEach(function (id) { saved[id] = true; });
    list.textContent = "";
    schedule.querySelectorAll("li[data-item-id]").forEach(function (li) {
      var id = li.getAttribute("data-item-id"), on = !!saved[id];
      li.classList.toggle("in-programme", on);
      var button = li.querySelector(".programme-button");
      if (button) button.setAttribute("aria-pressed", on ? "true" : "false");
      var wanted = li.querySelector("form.programme-toggle input[name=saved]");
      if (wanted) wanted.value = on ? "0" : "1";
      if (!on) return;
      var entry = document.createElement("li");
      entry.setAttribute("data-item-id", id);
      var time = li.querySelector("time");
      if (time) entry.appendChild(time.cloneNode(true));
      var link = document.createElement("a");
      link.className = "schedule-title";
      link.href = "#item-" + id;
      var title = li.querySelector(".schedule-title");
      link.textContent = title ? title.textContent : "";
      entry.appendChild(link);
      list.appendChild(entry);
    });
    empty.hidden = list.children.length > 0;
  }

  // A seat taken or given up (static/js/seats.js) changes the programme too.
  document.addEventListener("livehall:programme", function (ev) { apply(ev.detail.items || []); });

  schedule.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (!form.matches("form.programme-toggle")) return;
    ev.preventDefault();
    var button = form.querySelector("button");
    if (button.getAttribute("aria-busy") === "true") return;
    button.setAttribute("aria-busy", "true");
    fetch(form.action, {method: "POST", body: new FormData(form), credentials: "same-origin",
                        headers: {"Accept": "application/json"}})
      .then(function (r) {
        return r.json().then(function (data) { return {ok: r.ok, data: data}; });
      })
      .then(function (res) {
        button.removeAttribute("aria-busy");
        part(".programme-notice").textContent = res.data.message || "";
        if (res.ok) apply(res.data.items || []);
      })
      .catch(function () {
        // Not JSON (the gate closed meanwhile, or the network): the plain way.
        button.removeAttribute("aria-busy");
        HTMLFormElement.prototype.submit.call(form);
      });
  });
})();
