// Shows a moment on the reader's own clock beside the event's: elements with
// data-local-time="ISO" (hidden until filled) and data-timezone (the event's zone).
// Only when the reader's zone differs; without this file the event's clock is shown.
(function () {
  "use strict";
  var mine;
  try { mine = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (e) { return; }
  var lang = document.documentElement.lang || undefined;
  document.querySelectorAll("[data-local-time]").forEach(function (el) {
    var when = Date.parse(el.getAttribute("data-local-time"));
    if (!mine || isNaN(when) || el.getAttribute("data-timezone") === mine) return;
    var slot = el.querySelector("span") || el;
    slot.textContent = new Intl.DateTimeFormat(lang, {dateStyle: "full", timeStyle: "short"}).format(when) +
      " (" + mine + ")";
    el.hidden = false;
  });
})();
