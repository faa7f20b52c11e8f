// The live state banner of the event page: one message at a time, decided
// from every `state` frame exactly as events.view.banner decides it for the
// first render: a countdown before the official start, "no day is open"
// when the organisers have closed the day, "the broadcast is paused" while
// it is off, nothing while the event is live. The texts come translated from
// data attributes (the paused and no-day ones are the event page's own).
// The banner is a role=status region: its text changes only when the
// message does, and the ticking clock is hidden from screen readers, so
// they announce each change once and never every second.
(function () {
  "use strict";
  var el = document.getElementById("live-banner");
  var root = document.getElementById("event");
  if (!el || !root) return;
  var t = el.dataset;
  var L = window.Livehall;

  // What the page knew when it was rendered, until the first `state` frame.
  var known = {start: t.officialStart || null, dayOpen: t.dayOpen === "true", on: t.broadcastOn === "true"};
  var shownKey = t.kind + "|" + (t.kind === "countdown" ? known.start : "");
  var timer = null;

  function fill(template, values) {
    return String(template || "").replace(/\{(\w+)\}/g, function (_, k) { return values[k]; });
  }

  function decide() {
    if (known.start && Date.parse(known.start) > Date.now()) return "countdown";
    if (!known.dayOpen) return "no_day";
    if (!known.on) return "paused";
    return "";
  }

  function clockText() {
    var left = Math.max(0, Date.parse(known.start) - Date.now());
    var s = Math.floor(left / 1000), d = Math.floor(s / 86400);
    var time = String(Math.floor(s % 86400 / 3600)).padStart(2, "0") + ":" +
      String(Math.floor(s % 3600 / 60)).padStart(2, "0") + ":" + String(s % 60).padStart(2, "0");
    return fill(t.startsIn, {time: d ? fill(t.days, {days: d, time: time}) : time});
  }

  function officialStart() {
    var when = new Date(known.start);
    try {
      return new Intl.DateTimeFormat(document.documentElement.lang || undefined,
        {dateStyle: "long", timeStyle: "short", timeZone: t.timezone}).format(when);
    } catch (e) { return when.toLocaleString(); }
  }

  function part(tag, className, text, hidden) {
    var node = document.createElement(tag);
    node.className = className;
    node.textContent = text;
    if (hidden) node.setAttribute("aria-hidden", "true");
    el.appendChild(node);
    el.appendChild(document.createTextNode(" "));
  }

  function tick() {
    if (!el.isConnected) { clearInterval(timer); timer = null; return; }
    if (decide() !== "countdown") { show(); return; }
    var clock = el.querySelector(".live-banner-clock");
    if (clock) clock.textContent = clockText();
  }

  function show() {
    var kind = decide();
    var key = kind + "|" + (kind === "countdown" ? known.start : "");
    if (key !== shownKey) {
      shownKey = key;
      el.textContent = "";
      el.className = "live-banner" + (kind ? " live-banner-" + kind : "");
      el.setAttribute("data-kind", kind);
      if (kind === "countdown") {
        part("strong", "live-banner-text", t.notStarted);
        part("span", "live-banner-clock", "", true);
        part("span", "live-banner-when", fill(t.official, {when: officialStart()}));
      } else if (kind === "no_day") {
        part("strong", "live-banner-text", root.dataset.noDay);
      } else if (kind === "paused") {
        part("strong", "live-banner-text", root.dataset.playerPaused);
      }
      // Nothing to say while live: an empty banner takes no room (CSS :empty).
      if (!kind) el.textContent = "";
    }
    if (kind === "countdown") {
      var clock = el.querySelector(".live-banner-clock");
      if (clock) clock.textContent = clockText();
      if (!timer) timer = setInterval(tick, 1000);
    } else if (timer) {
      clearInterval(timer);
      timer = null;
    }
  }

  if (L && L.onFrame) {
    L.onFrame("state", function (s) {
      known = {start: (s.gate && s.gate.official_start) || null, dayOpen: !!s.day,
               on: !!(s.broadcast && s.broadcast.on)};
      show();
    });
  }
  show();
})();
