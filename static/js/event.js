// The event page, live: applies `state` frames to the slides, the player and
// the day line without reloading. Texts come translated from data attributes
// that the server rendered in the viewer's language.
(function () {
  "use strict";
  var root = document.getElementById("event");
  if (!root || !window.Livehall || !window.WebSocket) return;
  var t = root.dataset;
  var status = document.getElementById("live-status");

  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, function (_, k) { return values[k]; });
  }

  function showSlides(s) {
    var block = document.getElementById("slides");
    if (!block) return;
    block.hidden = !(s.visible && s.url);
    if (block.hidden) return;
    var fig = block.querySelector("figure.slide");
    if (!fig) {
      fig = document.createElement("figure");
      fig.className = "slide";
      fig.appendChild(document.createElement("img"));
      block.appendChild(fig);
    }
    var img = fig.querySelector("img");
    fig.setAttribute("data-locale", s.locale);
    fig.setAttribute("data-slide-index", String(s.number));
    img.setAttribute("alt", fill(t.slideAlt, {n: s.number, total: s.total}));
    if (img.getAttribute("src") !== s.url) img.setAttribute("src", s.url);
  }

  function showPlayer(b) {
    var box = document.querySelector("#player .player");
    if (!box) return;
    var current = box.querySelector("iframe, video");
    var want = b.on && b.embed ? b.embed : null;
    if (current && want && current.getAttribute("src") === want) return;
    box.textContent = "";
    if (!want) {
      var p = document.createElement("div");
      p.className = "placeholder";
      p.textContent = b.on ? t.playerSoon : t.playerPaused;
      box.appendChild(p);
      return;
    }
    var el;
    if (b.kind === "hls") {
      el = document.createElement("video");
      el.controls = true;
      el.playsInline = true;
    } else {
      el = document.createElement("iframe");
      el.setAttribute("allow", "autoplay; fullscreen; picture-in-picture");
      el.setAttribute("allowfullscreen", "");
      el.setAttribute("referrerpolicy", "strict-origin-when-cross-origin");
    }
    el.setAttribute("title", t.playerTitle);
    el.setAttribute("src", want);
    box.appendChild(el);
  }

  function showDay(day) {
    var line = document.getElementById("day");
    if (!line) return;
    line.textContent = "";
    if (day) {
      var strong = document.createElement("strong");
      strong.textContent = day.title;
      line.appendChild(strong);
      if (day.date) {
        var when = new Date(day.date + "T12:00:00Z");
        line.appendChild(document.createTextNode(" · " + new Intl.DateTimeFormat(
          document.documentElement.lang, {dateStyle: "long", timeZone: "UTC"}).format(when)));
      }
    } else {
      var span = document.createElement("span");
      span.className = "muted";
      span.textContent = t.noDay;
      line.appendChild(span);
    }
  }

  function setStatus(kind, text) {
    if (!status) return;
    status.hidden = !text;
    status.className = "live-status " + kind;
    status.textContent = text || "";
  }

  new window.Livehall.LiveClient(root.dataset.eventId, {
    state: function (s) {
      showSlides(s.slides);
      showPlayer(s.broadcast);
      showDay(s.day);
    },
    status: function (st) {
      if (st === "online") setStatus("online", "");
      else if (st === "reconnecting") setStatus("reconnecting", t.reconnecting);
    },
    takeover: function () { setStatus("stopped", t.takeover); }
  });
})();
