// A broadcast that keeps playing while the visitor browses the platform.
//
// On the event page the player (the `.player` box with its iframe or video)
// is taken out of <main> into #player-dock, a container that no navigation
// replaces, and laid over an empty slot where the player was. While it holds
// a playing source, links inside the platform no longer load a new document:
// the page is fetched, its <main> (and header) replace the current ones and
// the history gets an entry, so the player is never detached, which would
// reload an iframe. Away from the event page the dock shrinks to a small
// player in the bottom corner, with a way back and a close button. Forms
// still submit normally; such a full load ends the broadcast.
// Where the browser has Document Picture-in-Picture, a button moves the
// player into an always-on-top window, and back when that window closes.
(function () {
  "use strict";
  var dock = document.getElementById("player-dock");
  if (!dock || !window.fetch || !window.DOMParser || !window.history.pushState) return;
  var L = window.Livehall = window.Livehall || {};
  var holder = dock.querySelector(".player-dock-body");
  var away = dock.querySelector(".player-dock-away");
  var back = dock.querySelector(".player-dock-back");
  var pop = dock.querySelector(".player-dock-pop");
  var closer = dock.querySelector(".player-dock-close");
  var self = document.currentScript ? new URL(document.currentScript.src).pathname : "/static/js/nav.js";
  // Full page loads for these: staff pages and anything that changes the session.
  var EXCLUDED = /^\/(admin|signout|signin|locale|media|static|ws)(\/|$|\?)/;

  var box = null;        // the .player element, once taken over
  var eventId = null;    // the event it belongs to
  var eventUrl = null;   // where "Back to the event" goes
  var slot = null;       // the place kept for it on the event page, when shown there
  var pipWindow = null;
  var seq = 0;           // the latest navigation wins
  var observer = window.ResizeObserver ? new ResizeObserver(function () { place(); spaceBelow(); }) : null;

  L.playerBox = function () { return box; };
  // The event page's layout moved the player's place (static/js/stage.js).
  L.placePlayer = function () { place(); };

  function playing() {
    return !!(box && box.querySelector("iframe, video"));
  }

  function moveInto(parent, node) {
    // moveBefore keeps an iframe's document alive where browsers have it.
    if (parent.moveBefore && node.isConnected && node.ownerDocument === parent.ownerDocument) {
      try { parent.moveBefore(node, null); return; } catch (e) { /* fall back */ }
    }
    parent.appendChild(node);
  }

  function makeSlot(doc) {
    var el = doc.createElement("div");
    el.className = "player-slot";
    return el;
  }

  // ---- placing the dock ---------------------------------------------------

  // On a phone the event page pins the player's place at the top (a sticky
  // .stage-pin): the dock then stays fixed over it, following it on scroll.
  function pinnedSlot() {
    var pin = slot.closest(".stage-pin");
    return !!pin && getComputedStyle(pin).position === "sticky";
  }

  function place() {
    if (!slot || !slot.isConnected) return;
    var r = slot.getBoundingClientRect();
    var pinned = pinnedSlot();
    dock.classList.toggle("pinned", pinned);
    // Absolute to the document, so scrolling moves it with the page for free.
    var origin = pinned ? {top: 0, left: 0} : getComputedStyle(document.body).position === "static"
      ? document.documentElement.getBoundingClientRect() : document.body.getBoundingClientRect();
    dock.style.top = (r.top - origin.top) + "px";
    dock.style.left = (r.left - origin.left) + "px";
    dock.style.width = r.width + "px";
    var h = dock.offsetHeight + "px";
    if (slot.style.height !== h) slot.style.height = h;
  }

  function anchor(newSlot) {
    slot = newSlot;
    dock.hidden = false;
    dock.classList.remove("docked");
    dock.classList.add("anchored");
    document.documentElement.classList.remove("has-dock");
    if (observer) {
      observer.disconnect();
      observer.observe(slot);
      observer.observe(dock);
      observer.observe(document.body);
    }
    place();
  }

  function undock() {
    slot = null;
    if (observer) { observer.disconnect(); observer.observe(dock); }
    dock.classList.remove("anchored", "pinned");
    dock.classList.add("docked");
    dock.style.top = dock.style.left = dock.style.width = "";
    back.setAttribute("href", eventUrl);
    document.documentElement.classList.add("has-dock");
    spaceBelow();
  }

  // Room at the end of the page so the docked player hides nothing for good.
  function spaceBelow() {
    if (dock.classList.contains("docked")) {
      document.documentElement.style.setProperty("--dock-space", (dock.offsetHeight + 24) + "px");
    }
  }

  function adopt() {
    var root = document.getElementById("event");
    var section = document.getElementById("player");
    var found = section && section.querySelector(".player");
    if (!root || !found) return;
    box = found;
    eventId = root.getAttribute("data-event-id");
    eventUrl = location.pathname + location.search;
    var s = makeSlot(document);
    found.parentNode.insertBefore(s, found);
    moveInto(holder, found);
    anchor(s);
  }

  function close() {
    if (pipWindow) pipWindow.close();
    seq++;
    // An HLS player would go on fetching segments for a detached video.
    if (box && L.player) L.player.stop(box);
    if (box) box.remove();
    box = eventId = eventUrl = slot = null;
    if (observer) observer.disconnect();
    dock.hidden = true;
    dock.classList.remove("docked", "anchored", "pinned");
    document.documentElement.classList.remove("has-dock");
    if (L.leave) L.leave();
    var main = document.getElementById("main");
    if (main) { main.setAttribute("tabindex", "-1"); main.focus({preventScroll: true}); }
  }

  // ---- navigation ---------------------------------------------------------

  function excluded(url) {
    return url.origin !== location.origin || !/^https?:$/.test(url.protocol) || EXCLUDED.test(url.pathname);
  }

  document.addEventListener("click", function (ev) {
    if (ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return;
    if (!playing()) return;
    var a = ev.target.closest ? ev.target.closest("a[href]") : null;
    if (!a || !(a instanceof HTMLAnchorElement)) return;
    if ((a.target && a.target !== "_self") || a.hasAttribute("download")) return;
    var url = new URL(a.href, location.href);
    if (excluded(url)) return;
    // A jump inside the same page stays the browser's.
    if (url.pathname === location.pathname && url.search === location.search && url.hash) return;
    ev.preventDefault();
    go(url.href, true);
  });

  window.addEventListener("popstate", function () {
    if (shownPath === location.pathname + location.search) return;  // only the #fragment changed
    if (playing()) go(location.href, false);
    else location.reload();
  });

  var shownPath = location.pathname + location.search;
  history.replaceState(Object.assign({}, history.state, {livehall: true}), "");

  function go(href, push) {
    var mine = ++seq;
    var main = document.getElementById("main");
    if (main) main.setAttribute("aria-busy", "true");
    fetch(href, {credentials: "same-origin", headers: {"Accept": "text/html"}}).then(function (resp) {
      var type = resp.headers.get("Content-Type") || "";
      if (type.indexOf("text/html") !== 0) throw new Error("not a page");
      return resp.text().then(function (html) { return {url: resp.url || href, html: html}; });
    }).then(function (r) {
      if (mine !== seq) return;
      var url = new URL(r.url);
      if (!url.hash) url.hash = new URL(href).hash;
      if (excluded(url) || !swap(new DOMParser().parseFromString(r.html, "text/html"), url, push)) {
        location.assign(url.href);
      }
    }).catch(function () {
      if (mine === seq) location.assign(href);
    });
  }

  function swap(doc, url, push) {
    var newMain = doc.getElementById("main");
    if (!newMain || !box) return false;
    // Pages that reload themselves would end the broadcast anyway.
    if (doc.querySelector("[data-refresh-seconds], [data-reload]")) return false;
    var root = doc.getElementById("event");
    var newSlot = null;
    if (root) {
      if (root.getAttribute("data-event-id") !== eventId) return false;
      // Back on the event page: its fresh player is dropped before it can
      // load, and the one that kept playing takes its place.
      var section = doc.getElementById("player");
      var fresh = section && section.querySelector(".player");
      if (fresh) {
        newSlot = makeSlot(doc);
        fresh.parentNode.replaceChild(newSlot, fresh);
      }
    }
    if (push) {
      history.replaceState(Object.assign({}, history.state, {livehall: true, scroll: window.scrollY}), "");
      history.pushState({livehall: true}, "", url.href);
    }
    shownPath = location.pathname + location.search;
    document.title = doc.title;
    document.body.className = doc.body.className;
    var header = document.querySelector("body > header.topbar");
    var newHeader = doc.querySelector("body > header.topbar");
    if (header && newHeader) header.replaceWith(document.adoptNode(newHeader));
    copyStyles(doc);
    var main = document.getElementById("main");
    var adopted = document.adoptNode(newMain);
    main.replaceWith(adopted);
    if (newSlot) anchor(adopted.querySelector(".player-slot"));
    else undock();
    var target = url.hash && document.getElementById(decodeURIComponent(url.hash.slice(1)));
    if (target) target.scrollIntoView();
    else window.scrollTo(0, push ? 0 : ((history.state && history.state.scroll) || 0));
    // Tell assistive technology where it is now: focus the new heading.
    var heading = adopted.querySelector("h1") || adopted;
    if (!heading.hasAttribute("tabindex")) heading.setAttribute("tabindex", "-1");
    heading.focus({preventScroll: true});
    runScripts(doc);
    return true;
  }

  function copyStyles(doc) {
    var have = {};
    document.querySelectorAll("link[rel=stylesheet]").forEach(function (l) { have[l.href] = true; });
    doc.querySelectorAll("head link[rel=stylesheet]").forEach(function (l) {
      var href = new URL(l.getAttribute("href"), location.href).href;
      if (have[href]) return;
      var copy = document.createElement("link");
      copy.rel = "stylesheet";
      copy.href = href;
      document.head.appendChild(copy);
    });
  }

  // The new page's scripts run again, one after the other as on a full load
  // (app.js, the page's own); this file does not. Then `livehall:load`.
  function runScripts(doc) {
    document.querySelectorAll("body > script").forEach(function (s) {
      if (!s.src || new URL(s.src).pathname !== self) s.remove();
    });
    var list = Array.prototype.slice.call(doc.querySelectorAll("body script"));
    var mine = seq;
    (function next() {
      if (mine !== seq) return;
      var old = list.shift();
      if (!old) { document.dispatchEvent(new Event("livehall:load")); return; }
      var src = old.getAttribute("src");
      if (src && new URL(src, location.href).pathname === self) { next(); return; }
      var s = document.createElement("script");
      Array.prototype.forEach.call(old.attributes, function (at) {
        if (at.name !== "defer" && at.name !== "async") s.setAttribute(at.name, at.value);
      });
      if (src) {
        s.async = false;
        s.onload = s.onerror = next;
        document.body.appendChild(s);
      } else {
        s.textContent = old.textContent;
        document.body.appendChild(s);
        next();
      }
    })();
  }

  // ---- Document Picture-in-Picture ----------------------------------------

  function popOut() {
    if (pipWindow) { pipWindow.close(); return; }
    if (!box) return;
    var w = Math.max(320, Math.round(box.clientWidth)) || 480;
    window.documentPictureInPicture.requestWindow({width: w, height: Math.round(w * 9 / 16)}).then(function (win) {
      pipWindow = win;
      var d = win.document;
      d.documentElement.lang = document.documentElement.lang;
      d.documentElement.dir = document.documentElement.dir;
      d.title = document.title;
      document.querySelectorAll("link[rel=stylesheet]").forEach(function (l) {
        var copy = d.createElement("link");
        copy.rel = "stylesheet";
        copy.href = l.href;
        d.head.appendChild(copy);
      });
      d.body.className = "pip-body";
      // Another document: an iframe starts again here, a video goes on.
      var video = box.querySelector("video");
      var wasPlaying = video && !video.paused;
      d.body.appendChild(box);
      if (wasPlaying) video.play().catch(function () {});
      dock.classList.add("popped");
      away.hidden = false;
      pop.textContent = dock.getAttribute("data-pop-in");
      win.addEventListener("pagehide", function () {
        pipWindow = null;
        dock.classList.remove("popped");
        away.hidden = true;
        pop.textContent = dock.getAttribute("data-pop-out");
        if (box) {
          var v = box.querySelector("video"), on = v && !v.paused;
          holder.appendChild(box);
          if (on) v.play().catch(function () {});
        }
        place();
        spaceBelow();
      });
      place();
      spaceBelow();
    }).catch(function () { /* refused (no user gesture, or closed): stay docked */ });
  }

  if (window.documentPictureInPicture) {
    pop.hidden = false;
    pop.addEventListener("click", popOut);
  } else {
    dock.classList.add("no-pip");
  }
  closer.addEventListener("click", close);
  window.addEventListener("resize", function () { place(); spaceBelow(); });
  window.addEventListener("scroll", function () { if (dock.classList.contains("pinned")) place(); }, {passive: true});

  adopt();
})();
