// The live state banner of the event page: one message at a time, decided
// from every `state` frame exactly as events.view.banner decides it for the
// first render: LIVE while the gate is open and the broadcast plays (also
// before the official start, when the organisers opened early), else a
// countdown before the official start, "no day is open" when the organisers
// have closed the day, "the broadcast is paused" while it is off. With LIVE,
// when the event's staff show it, the number watching now: `viewers` frames
// bring it (at most one every two seconds). The texts come translated from
// data attributes (the paused and no-day ones are the event page's own).
// The banner is a role=status region: its text changes only when the
// message does, and the ticking clock and the changing count are hidden
// from screen readers, so they announce each change once and never every
// second.
(function () {
  "use strict";
  var el = document.getElementById("live-banner");
  var root = document.getElementById("event");
  if (!el || !root) return;
  var t = el.dataset;
  var L = window.Livehall;

  // What the page knew when it was rendered, until the first `state` frame.
  var known = {start: t.officialStart || null, dayOpen: t.dayOpen === "true", on: t.broadcastOn === "true",
               mode: t.gateMode, viewers: t.viewersShown === "true"};
  var shownKey = t.kind + "|" + (t.kind === "countdown" ? known.start : "");
  var timer = null;
  var watching = null;   // the latest `viewers` total
  var numbers = window.Intl && Intl.NumberFormat ? new Intl.NumberFormat(document.documentElement.lang || undefined) : null;

  function fill(template, values) {
    return String(template || "").replace(/\{(\w+)\}/g, function (_, k) { return values[k]; });
  }

  function gateOpen() {
    if (known.mode === "open") return true;
    if (known.mode === "closed") return false;
    // Automatic: open from the official start on, with no change to announce.
    return !!known.start && Date.parse(known.start) <= Date.now();
  }

  function decide() {
    if (known.on && gateOpen()) return "live";
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

  function showViewers() {
    var span = el.querySelector(".live-banner-viewers");
    if (!span) return;
    span.hidden = !known.viewers || watching === null;
    span.textContent = span.hidden ? "" : fill(t.watching, {count: numbers ? numbers.format(watching) : watching});
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
      } else if (kind === "live") {
        part("strong", "live-banner-text", t.live);
        part("span", "live-banner-viewers", "", true);
      }
      // Nothing to say while live: an empty banner takes no room (CSS :empty).
      if (!kind) el.textContent = "";
    }
    showViewers();
    // While the countdown runs, its tick also sees the automatic gate open
    // at the start (straight to LIVE when the broadcast is on).
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
               on: !!(s.broadcast && s.broadcast.on), mode: s.gate && s.gate.mode,
               viewers: !!(s.viewers && s.viewers.shown)};
      show();
    });
    L.onFrame("viewers", function (v) {
      watching = typeof v.total === "number" ? v.total : null;
      showViewers();
    });
  }
  show();
})();
