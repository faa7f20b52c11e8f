// Ticket pages: live sold-out marks on a ticket list, and the countdown of a reservation.
// The list follows the event's ticket sale over its own narrow WebSocket
// (/ws?event=<id>&view=tickets, docs/protocol.md "Ticket availability"); without
// scripts the page still shows the statuses as they were when it was made.
(function () {
  "use strict";

  function follow(table) {
    var eventId = table.getAttribute("data-tickets-event");
    var attempt = 0;
    function apply(types) {
      Array.prototype.forEach.call(table.querySelectorAll("[data-ticket-type]"), function (row) {
        var status = types[row.getAttribute("data-ticket-type")];
        if (!status || status === row.getAttribute("data-status")) return;
        row.setAttribute("data-status", status);
        var badge = row.querySelector(".ticket-status");
        var input = row.querySelector("input[type=number]");
        if (status === "sold_out") {
          if (badge) { badge.textContent = table.getAttribute("data-sold-out"); badge.classList.add("off"); }
          if (input) { input.value = "0"; input.disabled = true; }
        } else if (status === "on_sale") {
          if (badge) { badge.textContent = table.getAttribute("data-on-sale"); badge.classList.remove("off"); }
          if (input) { input.disabled = false; }
        }
      });
    }
    function connect() {
      var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
      var ws = new WebSocket(scheme + window.location.host + "/ws?view=tickets&event=" + encodeURIComponent(eventId));
      ws.onopen = function () { attempt = 0; };
      ws.onmessage = function (ev) {
        var msg;
        try { msg = JSON.parse(ev.data); } catch (e) { return; }
        if (msg.type === "tickets" && msg.types) apply(msg.types);
      };
      ws.onclose = function (ev) {
        if (ev.code === 4004) { window.location.reload(); return; }
        var delay = Math.min(30000, 500 * Math.pow(2, attempt++)) * (0.5 + Math.random() / 2);
        setTimeout(connect, delay);
      };
    }
    connect();
  }

  function countdown(box) {
    var until = Date.parse(box.getAttribute("data-countdown"));
    var out = box.querySelector(".countdown-left");
    function tick() {
      var left = Math.max(0, Math.round((until - Date.now()) / 1000));
      if (!left) {
        out.textContent = box.getAttribute("data-gone");
        box.classList.remove("flash-info");
        box.classList.add("flash-error");
        return;
      }
      var m = Math.floor(left / 60), s = left % 60;
      out.textContent = m + ":" + (s < 10 ? "0" : "") + s;
      setTimeout(tick, 1000);
    }
    if (out && !isNaN(until)) tick();
  }

  document.querySelectorAll("[data-tickets-event]").forEach(follow);
  document.querySelectorAll("[data-countdown]").forEach(countdown);
})();
