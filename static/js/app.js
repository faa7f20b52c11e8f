// Small progressive enhancements; every page works without this file.
(function () {
  "use strict";
  document.documentElement.classList.add("js");
  // Submit selects marked data-autosubmit (the language switcher) on change.
  document.querySelectorAll("select[data-autosubmit]").forEach(function (el) {
    el.addEventListener("change", function () { el.form.submit(); });
  });
  // Ask before destructive actions: forms carry data-confirm with a translated question.
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (ev) {
      if (!window.confirm(form.getAttribute("data-confirm"))) ev.preventDefault();
    });
  });
  // Countdown to the official start: elements with data-countdown="ISO date".
  // data-reload: load the page again at zero, within a second chosen at
  // random, so that thousands of waiting pages do not ask at the same moment.
  var timers = document.querySelectorAll("[data-countdown]");
  var reloading = false;
  if (timers.length) {
    var tick = function () {
      timers.forEach(function (el) {
        var left = Math.max(0, Date.parse(el.getAttribute("data-countdown")) - Date.now());
        if (left === 0 && el.hasAttribute("data-reload")) {
          if (!reloading) {
            reloading = true;
            setTimeout(function () { window.location.reload(); }, Math.random() * 1000);
          }
          return;
        }
        var s = Math.floor(left / 1000), d = Math.floor(s / 86400);
        var hh = String(Math.floor(s % 86400 / 3600)).padStart(2, "0");
        var mm = String(Math.floor(s % 3600 / 60)).padStart(2, "0");
        var ss = String(s % 60).padStart(2, "0");
        el.textContent = (d ? d + " · " : "") + hh + ":" + mm + ":" + ss;
      });
    };
    tick();
    setInterval(tick, 1000);
  }
  // Phones: the main menu opens from its button (without this script, the button is a link to it).
  // nav.js may run this file again with a new header: each button is wired once.
  var menu = document.querySelector(".topbar .menu-button");
  var nav = document.getElementById("topnav");
  if (menu && nav && !menu.hasAttribute("data-wired")) {
    menu.setAttribute("data-wired", "");
    var openMenu = function (open) {
      menu.setAttribute("aria-expanded", open ? "true" : "false");
      nav.classList.toggle("open", open);
    };
    var toggleMenu = function (ev) {
      ev.preventDefault();    // a link to #topnav only for browsers without this script
      openMenu(menu.getAttribute("aria-expanded") !== "true");
    };
    menu.addEventListener("click", toggleMenu);
    // A button is pressed with Space too.
    menu.addEventListener("keydown", function (ev) { if (ev.key === " ") toggleMenu(ev); });
    nav.addEventListener("keydown", function (ev) {
      if (ev.key === "Escape" && menu.getAttribute("aria-expanded") === "true") { openMenu(false); menu.focus(); }
    });
  }
  // Pages with long-running work (mailings) refresh their progress.
  var poll = document.querySelector("[data-refresh-seconds]");
  if (poll) {
    setTimeout(function () { window.location.reload(); },
      1000 * parseInt(poll.getAttribute("data-refresh-seconds"), 10));
  }
})();
