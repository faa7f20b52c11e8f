// The countdown on a quiz page (public/quiz.html), and sending the answers at zero.
//
// The server gives the seconds left when the page was made; counting from
// there on the page's own monotonic clock keeps a wrong computer clock out
// of it.  The server keeps the real deadline (with a few seconds of grace
// for a submission on its way) and refuses what comes later.  Without this
// script the page shows the time left and the deadline, and works the same
// except that nothing is sent by itself.
(function () {
  "use strict";
  var L = window.Livehall = window.Livehall || {};

  function format(total) {
    var h = Math.floor(total / 3600), m = Math.floor(total % 3600 / 60), s = total % 60;
    var mm = String(m).padStart(2, "0"), ss = String(s).padStart(2, "0");
    return h ? h + ":" + mm + ":" + ss : mm + ":" + ss;
  }

  function init() {
    var form = document.getElementById("quiz-form");
    if (!form || form.hasAttribute("data-quiz-ready")) return;
    form.setAttribute("data-quiz-ready", "");
    var left = parseInt(form.getAttribute("data-seconds-left"), 10);
    var clock = document.getElementById("quiz-clock");
    if (isNaN(left) || !clock) return;
    var box = document.getElementById("quiz-timer");
    var note = document.getElementById("quiz-timer-note");
    var end = performance.now() + left * 1000;
    var sent = false, warned = false, timer = null;

    function say(text) { if (note) note.textContent = text; }

    function send() {
      if (sent) return;
      sent = true;
      say(form.getAttribute("data-time-up"));
      form.submit();
    }

    function tick() {
      if (!form.isConnected) { clearInterval(timer); return; }
      var s = Math.max(0, Math.ceil((end - performance.now()) / 1000));
      var text = format(s);
      if (clock.textContent !== text) clock.textContent = text;
      if (s <= 60 && !warned) {
        warned = true;
        if (box) box.classList.add("is-low");
        // Said when the last minute begins, not on a page opened with seconds to go.
        if (s > 50) say(form.getAttribute("data-one-minute"));
      }
      if (s === 0) { clearInterval(timer); send(); }
    }

    form.addEventListener("submit", function () { sent = true; clearInterval(timer); });
    tick();
    timer = setInterval(tick, 250);
  }

  // Pages swapped in by static/js/nav.js run this file again: set up once, then on every page load.
  if (L.quizInit) { L.quizInit(); return; }
  L.quizInit = init;
  document.addEventListener("livehall:load", init);
  init();
})();
