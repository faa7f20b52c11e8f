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
      var sized = document.createElement("img");
      sized.width = 1600;     // a 16:9 box before the image arrives (the CSS keeps it)
      sized.height = 900;
      fig.appendChild(sized);
      block.appendChild(fig);
    }
    var img = fig.querySelector("img");
    fig.setAttribute("data-locale", s.locale);
    fig.setAttribute("data-slide-index", String(s.number));
    img.setAttribute("alt", fill(t.slideAlt, {n: s.number, total: s.total}));
    if (img.getAttribute("src") !== s.url) img.setAttribute("src", s.url);
  }

  function showPlayer(b) {
    // nav.js may hold the player outside the page (docked, or in a
    // picture-in-picture window); it says where through Livehall.playerBox.
    var box = (window.Livehall.playerBox && window.Livehall.playerBox()) || document.querySelector("#player .player");
    if (!box) return;
    var current = box.querySelector("iframe, video");
    var want = b.on && b.embed ? b.embed : null;
    // An HLS video keeps its playlist in data-hls-src (its src may be a
    // MediaSource URL of hls.js); the same source goes on playing.
    if (current && want && (current.getAttribute("data-hls-src") || current.getAttribute("src")) === want) return;
    if (L.player) L.player.stop(box);
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
      el.preload = "none";
      el.setAttribute("data-hls-src", want);
    } else {
      el = document.createElement("iframe");
      el.setAttribute("allow", "autoplay; fullscreen; picture-in-picture");
      el.setAttribute("allowfullscreen", "");
      el.setAttribute("referrerpolicy", "strict-origin-when-cross-origin");
    }
    el.setAttribute("title", t.playerTitle);
    if (b.kind !== "hls") el.setAttribute("src", want);
    box.appendChild(el);
    if (b.kind === "hls" && L.player) L.player.attach(el);
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

  // The schedule lists the sessions of the open days. When the days change,
  // this page's schedule and "My programme" are loaded again (the page
  // itself, in the viewer's language, with their programme) and swapped in.
  // Every viewer gets the same state at once: each waits a random moment
  // of up to three seconds, so their requests are spread.
  var scheduleTimer = null;
  function refreshSchedule(days) {
    var schedule = document.getElementById("schedule");
    if (!schedule || !schedule.hasAttribute("data-days") || !window.fetch || !window.DOMParser) return;
    var want = days.join(" ");
    if (schedule.getAttribute("data-days") === want) return;
    if (scheduleTimer) clearTimeout(scheduleTimer);
    scheduleTimer = setTimeout(function () {
      scheduleTimer = null;
      fetch(window.location.pathname, {credentials: "same-origin", headers: {"Accept": "text/html"}})
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) {
          if (!html) return;
          var doc = new DOMParser().parseFromString(html, "text/html");
          ["schedule", "programme"].forEach(function (id) {
            var fresh = doc.getElementById(id), here = document.getElementById(id);
            if (!fresh || !here) return;
            // Children only: the scripts listen on the sections themselves.
            here.replaceChildren.apply(here, Array.prototype.slice.call(fresh.childNodes).map(function (n) {
              return document.importNode(n, true);
            }));
            Array.prototype.forEach.call(fresh.attributes, function (a) { here.setAttribute(a.name, a.value); });
          });
        }, function () { /* the next change tries again */ });
    }, Math.random() * 3000);
  }

  function setStatus(kind, text) {
    if (!status) return;
    status.hidden = !text;
    status.className = "live-status " + kind;
    status.textContent = text || "";
  }

  // One LiveClient per event for the whole visit, shared by every feature
  // script (chat.js, ...): they register with Livehall.onFrame(type, fn) and
  // reach the client as Livehall.client. The client starts once every
  // deferred script has run, so no listener misses the first frames.
  // The registry lives in Livehall.session: when nav.js brings this page
  // back without a reload (the docked player kept playing meanwhile), this
  // script runs again, keeps the running client and only swaps the
  // listeners for those of the new page.
  var L = window.Livehall;
  var eventId = root.dataset.eventId;
  var session = L.session;
  var resumed = !!(session && session.eventId === eventId && L.client && !L.client.stopped);
  if (resumed) {
    session.listeners = {};
  } else {
    if (L.client && L.client.close) L.client.close();
    L.client = null;
    session = L.session = {eventId: eventId, listeners: {}, handlers: {}, lastWelcome: null, lastState: null,
                           joined: {}, roomSettings: {}};
  }
  function ensure(type) {
    if (!session.listeners[type]) session.listeners[type] = [];
    if (!session.handlers[type]) {
      session.handlers[type] = function (frame, client) {
        // A welcome starts a new connection: it is in no room yet.
        if (type === "welcome") { session.lastWelcome = frame; session.joined = {}; }
        if (type === "state") session.lastState = frame;
        if (type === "joined") session.joined[frame.room] = frame;
        if (type === "left") delete session.joined[frame.room];
        if (type === "room_settings") session.roomSettings[frame.room] = frame;
        (session.listeners[type] || []).slice().forEach(function (fn) { fn(frame, client); });
      };
    }
    return session.listeners[type];
  }
  function dispatch(type, frame) {
    ensure(type);
    session.handlers[type](frame, L.client);
  }
  L.onFrame = function (type, fn) {
    ensure(type).push(fn);
    // A listener added after the welcome still learns who the viewer is.
    if (type === "welcome" && session.lastWelcome) fn(session.lastWelcome, L.client);
  };
  // Ends the live connection for good (nav.js: the viewer closed the docked player).
  L.leave = function () {
    if (L.client && L.client.close) L.client.close();
    L.client = null;
    L.session = null;
  };
  ["welcome", "state", "joined", "left", "room_settings"].forEach(ensure);

  window.Livehall.onFrame("state", function (s) {
    showSlides(s.slides);
    showPlayer(s.broadcast);
    showDay(s.day);
  });
  // The viewer renamed themselves: the welcome every script reads says so too.
  window.Livehall.onFrame("profile", function (p) {
    var w = session.lastWelcome;
    if (w && w.user && p.user && p.user.id === w.user.id) w.user.name = p.user.name;
  });
  window.Livehall.onFrame("state", function (s) { refreshSchedule(s.enabled_days || []); });
  window.Livehall.onFrame("status", function (st) {
    if (st === "online") setStatus("online", "");
    else if (st === "reconnecting") setStatus("reconnecting", t.reconnecting);
  });
  window.Livehall.onFrame("takeover", function () {
    // One account watches on one device: this one stops playing too.
    setStatus("stopped", t.takeover);
    showPlayer({on: false});
  });

  function start() {
    // data-join-rooms="false": a page around the event page (community,
    // support) whose scripts join only the rooms they show.
    var options = root.dataset.joinRooms === "false" ? {rooms: false} : undefined;
    if (!L.client) L.client = new L.LiveClient(eventId, session.handlers, options);
  }
  // Back on the page with the client still running: once every script of
  // the new page has registered (nav.js fires livehall:load), bring them up
  // to date: the last state, the connection status, the rooms the client is
  // in (the server refuses a second join) and their history afresh.
  function resume() {
    var client = L.client;
    if (!client) return;
    if (session.lastState) dispatch("state", session.lastState);
    var online = client.ws && client.ws.readyState === WebSocket.OPEN;
    dispatch("status", online ? "online" : "reconnecting");
    Object.keys(session.joined).forEach(function (room) {
      if (session.roomSettings[room]) dispatch("room_settings", session.roomSettings[room]);
      if (online) dispatch("joined", session.joined[room]);
      dispatch("reset", room);
      client.send({type: "history", room: room, ref: "h:" + room});
    });
  }
  // Deferred scripts run while readyState is already "interactive", one by
  // one, and the browser handles network events while it waits for the next
  // one to arrive: a client started here could open, be welcomed and join
  // before chat.js has registered, which then never learns that the socket
  // is online or that its rooms are joined (its form stays disabled). So the
  // client starts on DOMContentLoaded, which follows every deferred script,
  // or, when nav.js runs this page's scripts after a swap, on livehall:load.
  function afterScripts(fn) {
    var nav = window.performance && performance.getEntriesByType && performance.getEntriesByType("navigation")[0];
    var contentLoaded = nav ? nav.domContentLoadedEventStart > 0 : document.readyState === "complete";
    document.addEventListener(contentLoaded ? "livehall:load" : "DOMContentLoaded", fn, {once: true});
  }
  afterScripts(resumed ? resume : start);
})();
