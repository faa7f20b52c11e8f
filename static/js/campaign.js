// A campaign's live totals: raised, donors and the progress bar, on its page, its fundraising screen and its
// widget (which also shows the latest gift: the donor's name, or its word for "Anonymous").
// The totals follow the campaign over a narrow WebSocket of their own (/ws?campaign=<id>,
// docs/protocol.md "Donation totals"); without scripts the page shows them as they were when it was made.
(function () {
  "use strict";

  function follow(box) {
    var id = box.getAttribute("data-campaign-live");
    var currency = box.getAttribute("data-currency");
    var exponent = parseInt(box.getAttribute("data-exponent"), 10) || 0;
    var goal = parseInt(box.getAttribute("data-goal"), 10) || 0;
    var shown = parseInt(box.getAttribute("data-raised"), 10) || 0;
    var format = new Intl.NumberFormat(box.getAttribute("data-locale") || undefined,
                                       {style: "currency", currency: currency});
    var count = new Intl.NumberFormat(box.getAttribute("data-locale") || undefined);
    var raisedOut = box.querySelector(".campaign-raised");
    var donorsOut = box.querySelector(".campaign-donors");
    var progress = box.querySelector(".progress");
    var reached = box.querySelector(".campaign-goal-reached");
    var latest = box.querySelector(".campaign-latest");
    var attempt = 0;
    var animation = null;

    function money(minor) { return format.format(minor / Math.pow(10, exponent)); }

    function climb(target) {
      // The number climbs to the new total over a short moment; the final value is always the frame's.
      var from = shown, start = null;
      if (animation) cancelAnimationFrame(animation);
      function step(now) {
        if (start === null) start = now;
        var t = Math.min(1, (now - start) / 600);
        shown = Math.round(from + (target - from) * t);
        raisedOut.textContent = money(shown);
        if (t < 1) animation = requestAnimationFrame(step); else { shown = target; animation = null; }
      }
      if (document.hidden || !window.requestAnimationFrame) { shown = target; raisedOut.textContent = money(target); }
      else animation = requestAnimationFrame(step);
    }

    function apply(msg) {
      box.setAttribute("data-raised", String(msg.raised));
      box.setAttribute("data-donors", String(msg.donors));
      if (msg.raised !== shown) climb(msg.raised);
      if (donorsOut) donorsOut.textContent = count.format(msg.donors);
      var percent = goal > 0 ? Math.max(0, Math.min(100, Math.floor(msg.raised * 100 / goal))) : 0;
      if (progress) {
        progress.setAttribute("aria-valuenow", String(percent));
        var rect = progress.querySelector("rect");
        if (rect) rect.setAttribute("width", String(percent));
      }
      if (reached) reached.hidden = percent < 100;
      if (latest && msg.latest) {
        latest.textContent = msg.latest.name || latest.getAttribute("data-anonymous");
        var amount = box.querySelector(".campaign-latest-amount");
        if (amount) amount.textContent = money(msg.latest.amount);
        latest.parentNode.hidden = false;
      }
    }

    function connect() {
      var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
      var ws = new WebSocket(scheme + window.location.host + "/ws?campaign=" + encodeURIComponent(id));
      ws.onopen = function () { attempt = 0; };
      ws.onmessage = function (ev) {
        var msg;
        try { msg = JSON.parse(ev.data); } catch (e) { return; }
        if (msg.type === "donations" && msg.campaign === id) apply(msg);
        else if (msg.type === "resync") ws.close();   // frames may have been lost: a new connection reads afresh
      };
      ws.onclose = function () {
        var delay = Math.min(30000, 500 * Math.pow(2, attempt++)) * (0.5 + Math.random() / 2);
        setTimeout(connect, delay);
      };
    }
    connect();
  }

  // The fundraising screen's countdown to the deadline, in the reader's language (Intl), each half minute.
  function countdown(box) {
    var until = Date.parse(box.getAttribute("data-deadline"));
    if (isNaN(until) || !window.Intl || !Intl.RelativeTimeFormat) return;
    var words = new Intl.RelativeTimeFormat(document.documentElement.lang || undefined, {numeric: "auto"});
    function tick() {
      var minutes = Math.max(0, Math.round((until - Date.now()) / 60000));
      if (minutes >= 2 * 24 * 60) box.textContent = words.format(Math.floor(minutes / (24 * 60)), "day");
      else if (minutes >= 120) box.textContent = words.format(Math.floor(minutes / 60), "hour");
      else box.textContent = words.format(minutes, "minute");
      if (minutes > 0) setTimeout(tick, 30000);
    }
    tick();
  }

  document.querySelectorAll("[data-campaign-live]").forEach(follow);
  document.querySelectorAll("[data-deadline]").forEach(countdown);
})();
