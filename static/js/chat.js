// The chat panel of the event page: the public room of the viewer's language
// ("Chat") and their private support room ("Support"), over the page's one
// LiveClient (event.js shares it through Livehall.onFrame). Every name and
// text from the server is inserted with textContent, never as markup; the
// panel's own texts come translated from data attributes.
// Other pages of the event reuse it with their own tabs: a tab with
// data-room shows that room (a community page's discussion), which this
// script joins itself, as it joins every room when the client was started
// without joining the welcome's rooms (the support page).
(function () {
  "use strict";
  var panel = document.getElementById("chat");
  var L = window.Livehall;
  if (!panel || !L || !L.onFrame) return;
  var t = panel.dataset;
  var MAX = parseInt(t.max, 10) || 2000;
  var NEAR_BOTTOM = 40;  // px: closer than this counts as "reading the newest"

  var me = null;         // welcome.user
  var online = false;
  var active = null;     // the kind of the tab in view: the first tab to begin with
  var tabs = {};         // kind -> {kind, room, tab, pane, list, ...}
  var byRoom = {};       // room name -> tab
  var sent = {};         // client_id -> {tab, text}: our sends awaiting an ack

  function fill(template, values) {
    return String(template || "").replace(/\{(\w+)\}/g, function (_, k) { return values[k]; });
  }

  function formatTime(iso, withDate) {
    var d = new Date(iso);
    if (isNaN(d.getTime())) return "";
    var opts = withDate ? {dateStyle: "short", timeStyle: "short"} : {timeStyle: "short"};
    try { return new Intl.DateTimeFormat(document.documentElement.lang || undefined, opts).format(d); }
    catch (e) { return d.toLocaleString(); }
  }

  function sameDay(iso) {
    return new Date(iso).toDateString() === new Date().toDateString();
  }

  // Tabs with data-feature (the event page's Questions) belong to another
  // script: they share the tab bar and its keys, nothing else.
  panel.querySelectorAll(".chat-tab:not([data-feature])").forEach(function (button) {
    var kind = button.getAttribute("data-kind");
    var pane = document.getElementById(button.getAttribute("aria-controls"));
    if (active === null) active = kind;
    tabs[kind] = {
      kind: kind, room: null, tab: button, pane: pane,
      fixed: button.getAttribute("data-room") || null,
      readOnly: button.getAttribute("data-read-only") === "true",
      gone: false,       // the room was closed for good while the page was open
      closed: pane.querySelector(".chat-closed"),
      badge: button.querySelector(".chat-unread"),
      list: pane.querySelector(".chat-list"),
      empty: pane.querySelector(".chat-empty"),
      info: pane.querySelector(".chat-info"),
      error: pane.querySelector(".chat-error"),
      earlier: pane.querySelector(".chat-earlier"),
      form: pane.querySelector(".chat-form"),
      text: pane.querySelector("textarea"),
      count: pane.querySelector(".chat-count > span"),
      send: pane.querySelector("button[type=submit]"),
      oldest: null,      // smallest offset seen in history: where "Load earlier" continues
      unread: 0,
      joined: false,
      loading: true,     // until the room's first history (or its end) arrives
      waitUntil: 0,      // slow mode: no sending before this time (ms)
      waitTimer: null
    };
  });

  // ---- tabs -------------------------------------------------------------

  function visibleKinds() {
    return Object.keys(tabs).filter(function (k) { return !tabs[k].tab.hidden; });
  }

  // Every tab of the bar, chat or feature, in order.
  function allTabs() {
    return Array.prototype.filter.call(panel.querySelectorAll(".chat-tab"), function (b) { return !b.hidden; });
  }

  function selectTab(button, focus) {
    panel.querySelectorAll(".chat-tab").forEach(function (b) {
      var on = b === button, pane = document.getElementById(b.getAttribute("aria-controls"));
      b.setAttribute("aria-selected", on ? "true" : "false");
      b.tabIndex = on ? 0 : -1;
      if (pane) pane.hidden = !on;
    });
    var kind = button.getAttribute("data-kind");
    if (focus) button.focus();
    if (tabs[kind]) {
      active = kind;
      setUnread(tabs[kind], 0);
      scrollToEnd(tabs[kind]);
    }
    panel.dispatchEvent(new CustomEvent("livehall:tab", {detail: {kind: kind}}));
  }

  function select(kind, focus) {
    selectTab(tabs[kind].tab, focus);
  }

  panel.querySelectorAll(".chat-tab").forEach(function (button) {
    button.addEventListener("click", function () { selectTab(button, false); });
    // Arrow keys move between tabs (mirrored in right-to-left), Home/End jump.
    button.addEventListener("keydown", function (ev) {
      var list = allTabs(), i = list.indexOf(button), rtl = document.dir === "rtl";
      var next = null;
      if (ev.key === "ArrowRight") next = list[(i + (rtl ? -1 : 1) + list.length) % list.length];
      else if (ev.key === "ArrowLeft") next = list[(i + (rtl ? 1 : -1) + list.length) % list.length];
      else if (ev.key === "Home") next = list[0];
      else if (ev.key === "End") next = list[list.length - 1];
      if (next) { ev.preventDefault(); selectTab(next, true); }
    });
  });

  function setUnread(x, n) {
    x.unread = n;
    x.badge.hidden = n === 0;
    x.badge.textContent = "";
    if (!n) return;
    var num = document.createElement("span");
    num.setAttribute("aria-hidden", "true");
    num.textContent = n > 99 ? "99+" : String(n);
    var full = document.createElement("span");
    full.className = "visually-hidden";
    full.textContent = fill(t.unread, {count: n});
    x.badge.appendChild(num);
    x.badge.appendChild(full);
  }

  // ---- the message list -------------------------------------------------

  function nearBottom(list) {
    return list.scrollHeight - list.scrollTop - list.clientHeight < NEAR_BOTTOM;
  }

  function scrollToEnd(x) {
    x.list.scrollTop = x.list.scrollHeight;
  }

  function refreshEmpty(x) {
    x.empty.hidden = x.loading || x.list.children.length > 0;
  }

  // The room's history has arrived (or cannot come): the loading skeleton gives way to the list.
  function loaded(x) {
    if (!x.loading) return;
    x.loading = false;
    x.pane.classList.add("chat-loaded");
    x.list.removeAttribute("aria-busy");
    var status = x.pane.querySelector(".chat-loading");
    if (status) status.textContent = "";
    refreshEmpty(x);
  }

  function entry(m) {
    var li = document.createElement("li");
    li.className = "chat-msg";
    li.setAttribute("data-offset", String(m.offset));
    var user = m.user || {};
    var own = me && user.id === me.id;
    if (own) li.classList.add("own");
    var head = document.createElement("div");
    head.className = "chat-meta";
    var name = document.createElement("span");
    name.className = "chat-name";
    name.textContent = user.erased ? t.erasedUser : (user.name || "");
    head.appendChild(name);
    if (user.role && user.role !== "attendee") {
      var team = document.createElement("span");
      team.className = "badge chat-team";
      team.textContent = t.team;
      head.appendChild(team);
    }
    if (own) {
      var you = document.createElement("span");
      you.className = "chat-you";
      you.textContent = t.you;
      head.appendChild(you);
    }
    if (m.at) {
      var time = document.createElement("time");
      time.setAttribute("datetime", m.at);
      time.textContent = formatTime(m.at, !sameDay(m.at));
      head.appendChild(time);
    }
    var body = document.createElement("p");
    body.className = "chat-text";
    body.setAttribute("dir", "auto");
    body.textContent = m.text;
    li.appendChild(head);
    li.appendChild(body);
    return li;
  }

  // Inserts a text message at its place by offset; repeats are ignored.
  function place(x, m) {
    if (m.kind !== "text" || m.deleted || m.text == null) return false;
    if (x.list.querySelector("li[data-offset='" + m.offset + "']")) return false;
    var li = entry(m), items = x.list.children;
    for (var i = items.length - 1; i >= 0; i--) {
      if (parseInt(items[i].getAttribute("data-offset"), 10) < m.offset) {
        x.list.insertBefore(li, items[i].nextSibling);
        return true;
      }
    }
    x.list.insertBefore(li, x.list.firstChild);
    return true;
  }

  function remove(x, offset) {
    var li = x.list.querySelector("li[data-offset='" + offset + "']");
    if (li) li.remove();
    refreshEmpty(x);
  }

  // ---- the form -----------------------------------------------------------

  function updateForm(x) {
    var waiting = Date.now() < x.waitUntil;
    var ready = online && x.joined && !x.readOnly && !x.gone;
    x.form.hidden = x.readOnly || x.gone;
    if (x.closed) x.closed.hidden = !x.readOnly || x.gone;
    x.text.disabled = !ready;
    x.send.disabled = !ready || waiting || !x.text.value.trim() || x.text.value.length > MAX;
    x.count.textContent = x.text.value.length + " / " + MAX;
    x.count.parentNode.classList.toggle("over", x.text.value.length > MAX);
  }

  function showError(x, text) {
    x.error.textContent = text || "";
    x.error.hidden = !text;
  }

  function submit(x) {
    var text = x.text.value;
    if (!online || !x.joined || x.readOnly || x.gone || !text.trim() || text.length > MAX ||
        Date.now() < x.waitUntil) return;
    showError(x, "");
    var id = L.client.say(x.room, text);
    sent[id] = {tab: x, text: text};
    x.text.value = "";
    updateForm(x);
    scrollToEnd(x);
  }

  Object.keys(tabs).forEach(function (kind) {
    var x = tabs[kind];
    x.form.addEventListener("submit", function (ev) { ev.preventDefault(); submit(x); });
    x.text.addEventListener("input", function () { updateForm(x); });
    x.text.addEventListener("keydown", function (ev) {
      if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) { ev.preventDefault(); submit(x); }
    });
    x.earlier.addEventListener("click", function () {
      if (!x.room || x.oldest === null) return;
      x.earlier.disabled = true;
      L.client.send({type: "history", room: x.room, before: x.oldest, ref: "chat-earlier:" + x.room});
    });
  });

  // Slow mode: the Send button waits, and the notice counts the seconds down.
  function slowWait(x, seconds) {
    x.waitUntil = Date.now() + seconds * 1000;
    clearInterval(x.waitTimer);
    x.waitTimer = setInterval(function () {
      var left = Math.ceil((x.waitUntil - Date.now()) / 1000);
      if (left > 0) { showError(x, fill(t.errorSlow, {seconds: left})); return; }
      clearInterval(x.waitTimer);
      x.waitUntil = 0;
      showError(x, "");
      updateForm(x);
    }, 1000);
    updateForm(x);
  }

  // ---- frames -------------------------------------------------------------

  var replaying = false;  // the welcome handed to a listener that registers late (nav.js brought the page back)

  function onWelcome(w, client) {
    me = w.user;
    var rooms = w.rooms || [];
    var want = {
      pub: rooms.filter(function (r) { return r.indexOf(":pub:") !== -1; })[0] || null,
      sup: rooms.filter(function (r) { return r.indexOf(":sup:") !== -1; })[0] || null
    };
    var joined = (replaying && L.session && L.session.joined) || {};
    byRoom = {};
    Object.keys(tabs).forEach(function (kind) {
      var x = tabs[kind];
      var room = x.fixed || want[kind] || null;
      if (x.room !== room) {
        x.list.textContent = "";
        x.oldest = null;
        refreshEmpty(x);
      }
      x.room = room;
      x.joined = false;
      x.tab.hidden = !x.room;
      if (x.room) byRoom[x.room] = x;
      // LiveClient joins the welcome's rooms itself, unless told not to; the
      // others are joined here (resuming by epoch/offset after a reconnect).
      if (x.room && client && !x.gone && (x.fixed || client.joinRooms === false) && !joined[x.room]) {
        client.join(x.room);
      }
      updateForm(x);
    });
    // Back on a page with the connection kept: discussions of other pages are left.
    if (replaying && client) {
      Object.keys(joined).forEach(function (room) {
        if (room.indexOf(":com:") === -1 || byRoom[room]) return;
        client.send({type: "leave", room: room});
        delete client.rooms[room];
      });
    }
    var kinds = visibleKinds();
    panel.hidden = !allTabs().length;
    // (Not while a feature tab is in view: the viewer chose it.)
    if (kinds.length && !tabs[active].room && !tabs[active].pane.hidden) select(kinds[0], false);
    // Staff get no support room: a lone tab needs no tab bar.
    panel.classList.toggle("single", allTabs().length < 2);
  }
  replaying = true;
  L.onFrame("welcome", onWelcome);
  replaying = false;

  L.onFrame("status", function (st) {
    online = st === "online";
    Object.keys(tabs).forEach(function (k) {
      if (!online) tabs[k].joined = false;
      updateForm(tabs[k]);
    });
  });

  L.onFrame("joined", function (j) {
    var x = byRoom[j.room];
    if (!x) return;
    x.joined = true;
    updateForm(x);
  });

  L.onFrame("reset", function (room) {
    var x = byRoom[room];
    if (!x) return;
    x.list.textContent = "";
    x.oldest = null;
    x.earlier.hidden = true;
    refreshEmpty(x);   // (the history asked for next ends the loading)
  });

  L.onFrame("history", function (h) {
    var x = byRoom[h.room];
    if (!x) return;
    var earlier = typeof h.ref === "string" && h.ref.indexOf("chat-earlier:") === 0;
    var list = x.list, before = list.scrollHeight;
    (h.messages || []).forEach(function (m) {
      if (x.oldest === null || m.offset < x.oldest) x.oldest = m.offset;
      place(x, m);
    });
    x.earlier.hidden = !!h.complete || x.oldest === null;
    x.earlier.disabled = false;
    loaded(x);
    refreshEmpty(x);
    // Older messages go above what the reader looks at; keep it still.
    if (earlier) list.scrollTop += list.scrollHeight - before;
    else scrollToEnd(x);
  });

  L.onFrame("message", function (m) {
    var x = byRoom[m.room];
    if (!x) return;
    if (m.kind === "delete") { remove(x, m.target); return; }
    var stick = nearBottom(x.list);
    var own = me && m.user && m.user.id === me.id;
    if (!place(x, m)) return;
    refreshEmpty(x);
    if (stick || own) scrollToEnd(x);
    if (!own && (x.kind !== active || x.pane.hidden)) setUnread(x, x.unread + 1);
  });

  L.onFrame("ack", function (a) {
    if (a.client_id) delete sent[a.client_id];
  });

  L.onFrame("room_settings", function (s) {
    var x = byRoom[s.room];
    if (!x) return;
    // Only community discussions say whether they are read-only; other
    // settings frames leave that as it is.
    if (typeof s.read_only === "boolean" && x.fixed) {
      x.readOnly = s.read_only;
      if (x.readOnly) showError(x, "");
      updateForm(x);
    }
    x.info.hidden = !s.slow_mode;
    x.info.textContent = s.slow_mode ? fill(t.slowInfo, {seconds: s.slow_mode}) : "";
    if (!s.slow_mode && x.waitUntil) {
      x.waitUntil = 0;
      clearInterval(x.waitTimer);
      showError(x, "");
      updateForm(x);
    }
  });

  function errorText(e) {
    var until = e.until ? formatTime(e.until, !sameDay(e.until)) : "";
    switch (e.code) {
      case "muted": return fill(t.errorMuted, {time: until});
      case "banned": return fill(t.errorBanned, {time: until});
      case "slow_mode": return fill(t.errorSlow, {seconds: e.retry_after});
      case "rate_limited": return t.errorRate;
      case "read_only": return t.errorReadOnly || t.errorOther;
      case "unknown_room": return t.errorGone || t.errorOther;
      case "invalid": return t.errorInvalid;
      default: return t.errorOther;
    }
  }

  L.onFrame("error", function (e) {
    var mine = e.ref != null && sent[e.ref];
    var x;
    if (mine) {
      x = mine.tab;
      delete sent[e.ref];
      // Refused sends are not retried on reconnect; the text goes back to the box.
      if (L.client && L.client.pending) delete L.client.pending[e.ref];
      if (!x.text.value) x.text.value = mine.text;
    } else if (e.ref == null && (e.code === "banned" || e.code === "muted" || e.code === "rate_limited")) {
      x = tabs[active];  // a refused join has no ref
    } else if (e.ref == null && e.code === "unknown_room" && tabs[active].fixed) {
      x = tabs[active];  // the page's discussion went away before we joined it
      x.gone = true;
    } else {
      return;            // another feature's frame
    }
    if (e.code === "slow_mode" && e.retry_after) slowWait(x, e.retry_after);
    if (e.code === "read_only") x.readOnly = true;
    if (e.code === "unknown_room" && x.fixed) x.gone = true;
    showError(x, errorText(e));
    if (e.ref == null) loaded(x);   // a refused join: no history is coming
    updateForm(x);
  });

  L.onFrame("left", function (f) {
    var x = byRoom[f.room];
    if (!x) return;
    x.joined = false;
    if (f.reason === "discussion_off") {
      x.gone = true;
      loaded(x);
      showError(x, t.errorGone);
    }
    updateForm(x);
  });

  L.onFrame("sanction", function (s) {
    if (!s.active) {
      // A lifted ban lets us back into the rooms.
      if (s.kind === "ban" && L.client) Object.keys(byRoom).forEach(function (r) { L.client.join(r); });
      Object.keys(tabs).forEach(function (k) { showError(tabs[k], ""); });
      return;
    }
    Object.keys(tabs).forEach(function (k) {
      showError(tabs[k], errorText({code: s.kind === "ban" ? "banned" : "muted", until: s.until}));
    });
  });

  // The viewer changed their name (the profile page, perhaps in another
  // tab): their messages here show it, as their next ones will.
  L.onFrame("profile", function (p) {
    if (!me || !p.user || p.user.id !== me.id) return;
    me.name = p.user.name;
    panel.querySelectorAll(".chat-msg.own .chat-name").forEach(function (el) { el.textContent = p.user.name; });
  });

  Object.keys(tabs).forEach(function (k) { refreshEmpty(tabs[k]); updateForm(tabs[k]); });
  panel.hidden = false;
})();
