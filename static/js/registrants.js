// The registrant list (admin/attendees.html) and a bulk action's progress
// (admin/attendees_bulk_job.html).
//
// List: "select everyone on this page" ticks the rows; "select all matching"
// sends the list's filters instead of ids, so the rows' boxes are ticked and
// locked while it is on. While registration is open the counts per state
// follow `registrations` frames over the event's WebSocket (static/js/live.js,
// docs/protocol.md): each frame is complete, the page shows the latest.
//
// Job: the page asks for the job's progress once a second (JSON) until it
// has finished; closing the page does not stop the job. Texts come from the
// server already translated; nothing is inserted as markup.
(function () {
  "use strict";
  var lang = document.documentElement.lang || undefined;
  var numbers = window.Intl ? new Intl.NumberFormat(lang) : null;
  function fmt(n) { return numbers ? numbers.format(n) : String(n); }
  function each(selector, fn) { Array.prototype.forEach.call(document.querySelectorAll(selector), fn); }

  // --- selection ------------------------------------------------------------
  var pageBox = document.getElementById("bulk-page");
  var allBox = document.getElementById("bulk-all");
  if (pageBox) {
    pageBox.addEventListener("change", function () {
      each(".bulk-row", function (box) { if (!box.disabled) box.checked = pageBox.checked; });
    });
  }
  if (allBox) {
    allBox.addEventListener("change", function () {
      each(".bulk-row", function (box) { box.checked = allBox.checked; box.disabled = allBox.checked; });
      if (pageBox) { pageBox.checked = allBox.checked; pageBox.disabled = allBox.checked; }
    });
  }

  // --- live counts --------------------------------------------------------------
  var counts = document.getElementById("registrant-counts");
  if (counts && counts.getAttribute("data-live") === "1" && window.Livehall && window.Livehall.LiveClient
      && window.WebSocket) {
    window.Livehall.registrantsClient = new window.Livehall.LiveClient(counts.getAttribute("data-event-id"), {
      registrations: function (frame) {
        var states = frame.states || {};
        each("[data-count-state]", function (el) {
          el.textContent = fmt(states[el.getAttribute("data-count-state")] || 0);
        });
        each("[data-count-total]", function (el) { el.textContent = fmt(frame.total || 0); });
        counts.setAttribute("data-updated", String(Date.now()));
      }
    }, {rooms: false});
  }

  // --- a job's progress ------------------------------------------------------------
  var job = document.getElementById("bulk-job");
  if (job && job.getAttribute("data-status") !== "finished" && window.fetch) {
    var progress = document.getElementById("bulk-progress");
    var summary = document.getElementById("bulk-summary");
    var stateText = document.getElementById("bulk-state");
    var list = document.getElementById("bulk-reasons");
    var poll = function () {
      fetch(job.getAttribute("data-url"), {headers: {"Accept": "application/json"}, credentials: "same-origin"})
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) {
          if (!data) { setTimeout(poll, 3000); return; }
          progress.max = data.total || 1;
          progress.value = data.position;
          progress.textContent = data.position + " / " + data.total;
          summary.textContent = data.summary;
          list.textContent = "";
          data.reasons.forEach(function (line) {
            var li = document.createElement("li");
            li.textContent = line;
            list.appendChild(li);
          });
          if (data.status === "finished") {
            job.setAttribute("data-status", "finished");
            stateText.textContent = document.getElementById("bulk-texts").getAttribute("data-finished");
          } else {
            setTimeout(poll, 1000);
          }
        })
        .catch(function () { setTimeout(poll, 3000); });
    };
    setTimeout(poll, 1000);
  }
})();
