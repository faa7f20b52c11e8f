// Reactions on the event page: six buttons that send a `react` frame over
// the page's live connection, and `reactions` frames (the counts of every
// viewer's reactions in the last half second, docs/protocol.md) shown as
// emoji floating up beside the player. The server accepts one reaction a
// second per person, so after a press the buttons rest for a second
// (aria-disabled: they stay in the tab order and keep their focus). A burst
// shows at most a few emoji per frame, spread over the window. With
// prefers-reduced-motion the emoji fade in and out where they appear
// instead of rising (static/css/app.css). `state` frames say whether staff
// have turned reactions off. The buttons' names come translated in their
// aria-label; nothing from the server becomes markup.
(function () {
  "use strict";
  var root = document.getElementById("reactions");
  var L = window.Livehall;
  if (!root || !L || !L.onFrame) return;
  var layer = root.querySelector(".reactions-float");
  var buttons = Array.prototype.slice.call(root.querySelectorAll("button[data-reaction]"));
  var emoji = {};
  buttons.forEach(function (b) { emoji[b.getAttribute("data-reaction")] = b.getAttribute("data-emoji"); });
  var MAX_PER_FRAME = 12;     // emoji drawn for one frame, however many reactions it counts
  var WINDOW_MS = 500;        // a frame's emoji are spread over the window it covers
  var REST_MS = 1000;         // one reaction a second per person (reactions.totals.EVERY)
  var resting = false;
  var sent = 0;

  function rest() {
    resting = true;
    buttons.forEach(function (b) { b.setAttribute("aria-disabled", "true"); });
    setTimeout(function () {
      resting = false;
      buttons.forEach(function (b) { b.removeAttribute("aria-disabled"); });
    }, REST_MS);
  }

  root.addEventListener("click", function (ev) {
    var button = ev.target.closest("button[data-reaction]");
    if (!button || resting || !L.client) return;
    // A ref of our own: chat.js leaves alone errors that name one it did not send. A refusal
    // (too soon, or turned off a moment ago) needs no words; the next state says if they are off.
    L.client.send({type: "react", emoji: button.getAttribute("data-reaction"), ref: "react:" + (++sent)});
    button.classList.add("sent");
    setTimeout(function () { button.classList.remove("sent"); }, 300);
    rest();
  });

  function float(name, delay) {
    setTimeout(function () {
      var el = document.createElement("span");
      el.className = "reaction-floating";
      el.setAttribute("data-reaction", name);
      el.textContent = emoji[name];
      // Each rises from its own place along the strip (CSSOM, which the page's CSP allows).
      el.style.setProperty("--x", (10 + Math.random() * 80).toFixed(1) + "%");
      el.addEventListener("animationend", function () { el.remove(); });
      layer.appendChild(el);
    }, delay);
  }

  L.onFrame("reactions", function (frame) {
    if (root.hidden || document.hidden) return;
    var counts = frame.counts || {};
    var names = Object.keys(counts).filter(function (n) { return emoji[n] && counts[n] > 0; });
    var total = names.reduce(function (sum, n) { return sum + counts[n]; }, 0);
    if (!total) return;
    var scale = Math.min(1, MAX_PER_FRAME / total);
    names.forEach(function (n) {
      var shown = Math.max(1, Math.round(counts[n] * scale));
      for (var i = 0; i < shown; i++) float(n, Math.random() * WINDOW_MS);
    });
  });

  L.onFrame("state", function (s) {
    if (s && s.reactions) root.hidden = !s.reactions.on;
  });
})();
