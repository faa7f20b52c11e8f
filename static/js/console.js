// The moderator and commentator console (admin/console.html), live over the
// event's WebSocket (docs/protocol.md, "Moderation" and "Questions").
// The server decides what this staff member may see and do; this script lists
// the rooms it offers with unread counts, joins the room being read (keeping
// only a few joined), and sends replies, deletions, sanctions, slow mode and
// question decisions. New support conversations and their new entries come
// as `support` frames; the list is asked for again after every (re)connect
// and when the tab comes back into view, never on a timer. Texts come
// translated in data attributes; user text is only ever inserted with
// textContent.
// For the live hour: the feed follows the newest message unless the reader
// scrolled up (then a marker counts what came and jumps down), a message's
// actions show on hover and on focus (arrow keys move between messages),
// questions are a column on wide screens and a tab on narrow ones, the
// filters are kept in localStorage, and every new support conversation is
// announced (a polite live region and a visible notice).
(function () {
  "use strict";
  var root = document.getElementById("console");
  if (!root || !window.Livehall || !window.WebSocket) return;
  var t = root.dataset;
  var languages = JSON.parse(t.languages || "{}");
  var sessions = JSON.parse(t.sessions || "{}");
  var community = JSON.parse(t.community || "{}");  // community discussion room -> page title
  var lang = document.documentElement.lang || undefined;
  // Rooms joined besides the ones the server names in `welcome`: enough to
  // switch between a few conversations without reloading their history.
  var MAX_OPENED = 3;
  var STAFF = ["platform_admin", "space_admin", "event_admin", "event_manager", "moderator", "commentator"];

  var $ = function (id) { return document.getElementById(id); };
  var els = {
    status: $("console-status"), list: $("console-room-list"), empty: $("console-rooms-empty"),
    title: $("console-room-title"), hint: $("console-room-hint"), body: $("console-room-body"),
    slowForm: $("console-slow-form"), slow: $("console-slow"), feedBox: $("console-feed-box"),
    feed: $("console-feed"), replyForm: $("console-reply-form"), reply: $("console-reply"),
    qNote: $("console-questions-note"), qTitle: $("console-questions-title"),
    sanction: $("console-sanction-template"), marker: $("console-new-marker"),
    filtered: $("console-rooms-filtered"), language: $("console-language"), unreadOnly: $("console-unread-only"),
    announce: $("console-announce"), toast: $("console-toast"), toastText: $("console-toast-text"),
    toastOpen: $("console-toast-open"), toastClose: $("console-toast-close"),
    chat: $("console-chat"), questions: $("questions"), tabs: $("console-tabs"),
    qTabCount: $("console-tab-questions-count")
  };

  var me = null, moderator = false;
  var rooms = {};          // room -> {room, kind, locale, user, epoch, offset, read, slow_mode}
  var order = [];          // room names as the server lists them
  var roomButtons = {};    // room -> <button>
  var feeds = {};          // room -> {loaded, complete, items: {offset: message}}
  var welcomeRooms = [];   // joined by LiveClient itself on every (re)connect
  var opened = [];         // other joined rooms, most recently opened last
  var current = null;
  var questions = {};      // id -> question
  var callbacks = {};      // ref -> function(ack)
  var seq = 0;
  var roomsBuffer = null;  // pages of a `rooms` answer being collected
  var following = true;    // the feed shows its newest message and keeps doing so
  var unseen = 0;          // messages arrived while the reader was scrolled up
  var fresh = {};          // support rooms announced and not opened yet
  var toastRoom = null;

  // Filters and the open room, kept per event in this browser.
  var PREFS_KEY = "livehall.console." + t.eventId;
  var prefs = (function () {
    try { return JSON.parse(window.localStorage.getItem(PREFS_KEY) || "{}") || {}; } catch (e) { return {}; }
  })();
  function savePrefs() {
    try { window.localStorage.setItem(PREFS_KEY, JSON.stringify(prefs)); } catch (e) { /* private mode: not kept */ }
  }

  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, function (_, k) { return values[k] == null ? "" : values[k]; });
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text != null) node.textContent = text;
    return node;
  }

  function button(text, className, onClick) {
    var b = el("button", className, text);
    b.type = "button";
    b.addEventListener("click", onClick);
    return b;
  }

  function when(iso, withDate) {
    if (!iso) return "";
    var opts = withDate ? {dateStyle: "short", timeStyle: "short"} : {hour: "2-digit", minute: "2-digit"};
    try { return new Intl.DateTimeFormat(lang, opts).format(new Date(iso)); } catch (e) { return iso; }
  }

  function notice(kind, text) {
    els.status.hidden = !text;
    els.status.className = "live-status " + kind;
    els.status.textContent = text || "";
  }

  // Send a frame whose answer (`ack`) calls `done`; errors come back by the same ref.
  function act(frame, done) {
    frame.ref = "k" + (++seq);
    if (done) callbacks[frame.ref] = done;
    if (!client.send(frame)) notice("reconnecting", t.reconnecting);
  }

  // Re-rendering may drop the focused control; put focus back on its replacement.
  function keepFocus(render) {
    var active = document.activeElement;
    var key = active && active.getAttribute && active.getAttribute("data-focus");
    render();
    if (key && !document.body.contains(active)) {
      var again = root.querySelector('[data-focus="' + key.replace(/"/g, "") + '"]');
      if (again) again.focus();
    }
  }

  // --- rooms -----------------------------------------------------------------

  function roomLabel(r) {
    if (r.kind === "sup") return fill(t.supportRoom, {name: r.user ? r.user.name : ""});
    if (r.kind === "com") return community[r.room] ? fill(t.communityRoom, {title: community[r.room]}) : t.communityOther;
    return fill(t.publicRoom, {language: languages[r.locale] || r.locale});
  }

  function unread(r) { return Math.max(0, (r.offset || 0) - (r.read || 0)); }

  function refreshRooms() {
    if (roomsBuffer) return;
    roomsBuffer = [];
    if (!client.send({type: "rooms", ref: "rooms"})) roomsBuffer = null;
  }

  function receiveRooms(msg) {
    if (msg.ref !== "rooms" || !roomsBuffer) return;
    roomsBuffer = roomsBuffer.concat(msg.rooms || []);
    if (msg.next) { client.send({type: "rooms", ref: "rooms", after: msg.next}); return; }
    var list = roomsBuffer;
    roomsBuffer = null;
    order = [];
    list.forEach(function (r) {
      var mine = rooms[r.room];
      var read = r.offset - r.unread;
      if (!mine || mine.epoch !== r.epoch) {
        rooms[r.room] = {room: r.room, kind: r.kind, locale: r.locale, user: r.user, epoch: r.epoch,
                         offset: r.offset, read: read, slow_mode: r.slow_mode};
      } else {
        mine.user = r.user;
        mine.slow_mode = r.slow_mode;
        mine.offset = Math.max(mine.offset, r.offset);
        mine.read = Math.max(mine.read, read);
      }
      order.push(r.room);
    });
    renderRooms();
    // The room read before a reload opens again once the server lists it.
    if (!current && prefs.room && rooms[prefs.room]) openRoom(prefs.room, false);
    markRead();
    if (current) showSlowMode();
  }

  // A new entry in a support room this staff member may answer: a new
  // conversation joins the list at its place (room-name order, as `rooms`
  // lists them), a known one counts it as unread.
  function receiveSupport(msg) {
    var r = rooms[msg.room];
    if (!r || r.epoch !== msg.epoch) {
      var unknown = !r;
      rooms[msg.room] = {room: msg.room, kind: "sup", locale: msg.locale,
                         user: {id: msg.user.id, name: msg.user.name || (r && r.user ? r.user.name : "")},
                         epoch: msg.epoch, offset: msg.offset, read: 0, slow_mode: r ? r.slow_mode : 0};
      if (unknown) {
        order.push(msg.room);
        order.sort();
      }
      if (msg.room !== current) fresh[msg.room] = true;
      renderRooms();
      announceSupport(rooms[msg.room]);
      return;
    }
    if (msg.user.name != null && r.user) r.user.name = msg.user.name;
    r.offset = Math.max(r.offset || 0, msg.offset);
    updateRoom(msg.room);
    if (msg.room === current) markRead();
  }

  // A new support conversation: said once to screen readers, shown until opened or dismissed.
  function announceSupport(r) {
    var text = fill(t.newSupport, {name: r.user ? r.user.name : "", language: languages[r.locale] || r.locale});
    // A changed text is what a live region reads; the same name twice in a row is still news.
    els.announce.textContent = els.announce.textContent === text ? text + "\u00a0" : text;
    els.toastText.textContent = text;
    els.toast.hidden = false;
    toastRoom = r.room;
    sizeColumns();
  }

  function closeToast() {
    els.toast.hidden = true;
    toastRoom = null;
    sizeColumns();
  }

  function renderRoomButton(name) {
    var r = rooms[name];
    var b = roomButtons[name];
    if (!b) {
      b = el("button", "console-room-button");
      b.type = "button";
      b.setAttribute("data-room", name);
      b.setAttribute("data-focus", "room:" + name);
      b.appendChild(el("span", "console-room-name"));
      if (r.kind === "sup") b.appendChild(el("span", "console-room-meta muted"));
      var badge = el("span", "badge console-unread");
      badge.setAttribute("aria-hidden", "true");
      b.appendChild(badge);
      b.appendChild(el("span", "visually-hidden console-unread-text"));
      if (r.kind === "sup") b.appendChild(el("span", "badge console-new", t.newBadge));
      b.addEventListener("click", function () { openRoom(name, true); });
      roomButtons[name] = b;
    }
    b.querySelector(".console-room-name").textContent = roomLabel(r);
    var meta = b.querySelector(".console-room-meta");
    if (meta) meta.textContent = languages[r.locale] || r.locale;
    var n = unread(r);
    var badge2 = b.querySelector(".console-unread");
    badge2.textContent = String(n);
    badge2.hidden = n === 0;
    b.querySelector(".console-unread-text").textContent = n ? " " + fill(t.unread, {count: n}) : "";
    b.setAttribute("data-unread", String(n));
    var isNew = b.querySelector(".console-new");
    if (isNew) isNew.hidden = !fresh[name];
    if (name === current) b.setAttribute("aria-current", "true"); else b.removeAttribute("aria-current");
    return b;
  }

  // The filters hide rooms, never the one being read.
  function shown(name) {
    var r = rooms[name];
    if (name === current) return true;
    if (prefs.language && r.locale && r.locale !== prefs.language) return false;
    if (prefs.unreadOnly && !unread(r) && !fresh[name]) return false;
    return true;
  }

  function renderRooms() {
    var visible = order.filter(shown);
    keepFocus(function () {
      var items = visible.map(function (name) { return renderRoomButton(name); });
      var same = els.list.children.length === items.length && items.every(function (b, i) {
        return els.list.children[i].firstChild === b;
      });
      if (!same) {
        els.list.textContent = "";
        items.forEach(function (b) {
          var li = el("li");
          li.appendChild(b);
          els.list.appendChild(li);
        });
      }
    });
    els.empty.hidden = order.length > 0;
    els.empty.textContent = t.noRooms;
    els.filtered.hidden = !order.length || visible.length > 0;
  }

  function updateRoom(name) {
    if (!rooms[name]) return;
    // A room filtered by "unread only" comes back (or goes) as its count moves.
    var b = roomButtons[name];
    var listed = !!b && !!b.parentNode && b.parentNode.parentNode === els.list;
    if (listed !== shown(name)) { renderRooms(); return; }
    if (roomButtons[name]) renderRoomButton(name);
  }

  function joinRoom(name) {
    if (welcomeRooms.indexOf(name) >= 0) return;
    var at = opened.indexOf(name);
    if (at >= 0) { opened.splice(at, 1); opened.push(name); return; }
    opened.push(name);
    client.join(name);
    while (opened.length > MAX_OPENED) {
      var old = opened.shift();
      client.send({type: "leave", room: old});
      // Forget the position so that opening it again loads its history afresh.
      delete client.rooms[old];
      delete feeds[old];
    }
  }

  function openRoom(name, focus) {
    var first = current !== name;
    var before = current;
    current = name;
    delete fresh[name];
    if (toastRoom === name) closeToast();
    prefs.room = name;
    savePrefs();
    joinRoom(name);
    if (first && before && !shown(before)) renderRooms();
    order.forEach(updateRoom);
    if (first) {
      closeSanction();
      els.title.textContent = roomLabel(rooms[name]);
      els.hint.hidden = true;
      els.body.hidden = false;
      els.slowForm.hidden = false;
      following = true;
      renderFeed();
      showSlowMode();
    }
    if (focus) els.title.focus();
    markRead();
  }

  function showSlowMode() {
    var r = rooms[current];
    if (!r) return;
    var value = String(r.slow_mode || 0);
    var found = Array.prototype.some.call(els.slow.options, function (o) { return o.value === value; });
    if (!found) {
      var extra = el("option", null, fill(t.slowOther, {seconds: value}));
      extra.value = value;
      els.slow.appendChild(extra);
    }
    els.slow.value = value;
  }

  // The staff member has seen everything up to the newest entry of the open room.
  function markRead() {
    if (!current || document.visibilityState === "hidden") return;
    var r = rooms[current], f = feeds[current];
    if (!r || !f || !f.loaded) return;
    var at = client.rooms[current];
    var newest = Math.max(r.offset || 0, at ? at.offset : 0);
    if (newest <= r.read) return;
    r.read = newest;
    r.offset = newest;
    client.send({type: "read", room: current, offset: newest, ref: "read"});
    updateRoom(current);
  }

  // --- the feed --------------------------------------------------------------

  function feedFor(name) {
    if (!feeds[name]) feeds[name] = {loaded: false, complete: false, items: {}};
    return feeds[name];
  }

  function isStaff(user) { return user && STAFF.indexOf(user.role) >= 0; }

  // A deleted account's messages and questions stay, shown as by a deleted user.
  function authorName(user) { return user ? (user.erased ? t.erasedUser : user.name || "") : ""; }

  function messageItem(m) {
    var li = el("li", "console-msg");
    li.setAttribute("data-offset", String(m.offset));
    // Roving focus: one message of the feed is in the tab order, the arrow keys move it.
    li.setAttribute("tabindex", "-1");
    li.setAttribute("data-focus", "msg:" + m.offset);
    var head = el("div", "console-msg-head");
    var who = el("strong", "console-msg-author", authorName(m.user));
    head.appendChild(who);
    if (isStaff(m.user)) head.appendChild(el("span", "badge", t.staff));
    if (me && m.user && m.user.id === me.id) head.appendChild(el("span", "muted console-you", t.you));
    var time = el("time", "muted", when(m.at));
    time.setAttribute("datetime", m.at || "");
    head.appendChild(time);
    li.appendChild(head);
    if (m.deleted) {
      li.classList.add("is-deleted");
      li.appendChild(el("p", "console-msg-text muted", t.deleted));
      return li;
    }
    var text = el("p", "console-msg-text", m.text);
    text.setAttribute("dir", "auto");
    li.appendChild(text);
    var tools = el("div", "console-msg-tools");
    tools.setAttribute("role", "group");
    tools.setAttribute("aria-label", fill(t.messageActions, {name: authorName(m.user)}));
    if (m.user && !m.user.erased && !(me && m.user.id === me.id)) {
      var reply = button(t.reply, "small secondary", function () { replyTo(m); });
      reply.setAttribute("data-focus", "reply:" + m.offset);
      reply.setAttribute("aria-label", fill(t.replyTo, {name: authorName(m.user)}));
      tools.appendChild(reply);
    }
    var del = button(t.delete, "small secondary", function () { deleteMessage(m); });
    del.setAttribute("data-focus", "del:" + m.offset);
    tools.appendChild(del);
    if (m.user && !m.user.erased && !isStaff(m.user)) {
      var sanction = button(t.sanction, "small secondary", function () { openSanction(li, m, sanction); });
      sanction.setAttribute("data-focus", "sanction:" + m.offset);
      sanction.setAttribute("aria-expanded", "false");
      tools.appendChild(sanction);
    }
    li.appendChild(tools);
    return li;
  }

  function sortedOffsets(f) {
    return Object.keys(f.items).map(Number).sort(function (a, b) { return a - b; });
  }

  function nearBottom() {
    var box = els.feedBox;
    return box.scrollHeight - box.scrollTop - box.clientHeight < 60;
  }

  function toBottom() {
    els.feedBox.scrollTop = els.feedBox.scrollHeight;
    following = true;
    showMarker(0);
  }

  // The "new messages" marker: how many arrived below while the reader was scrolled up.
  function showMarker(n) {
    unseen = n;
    els.marker.hidden = n === 0;
    els.marker.textContent = n ? fill(t.newMessages, {count: n}) + " \u2193" : "";
  }

  function feedItems() { return els.feed.querySelectorAll("li.console-msg"); }

  // Exactly one message is reachable with Tab: the one last focused, else the newest.
  function settleRoving() {
    var items = feedItems();
    var current0 = els.feed.querySelector('li.console-msg[tabindex="0"]');
    if (current0 && current0.parentNode === els.feed) return;
    if (items.length) items[items.length - 1].setAttribute("tabindex", "0");
  }

  function focusMessage(li) {
    Array.prototype.forEach.call(els.feed.querySelectorAll('li.console-msg[tabindex="0"]'), function (x) {
      if (x !== li) x.setAttribute("tabindex", "-1");
    });
    li.setAttribute("tabindex", "0");
    // The newest message while following: the feed stays scrolled to its very end.
    var end = following && li === els.feed.lastElementChild;
    li.focus({preventScroll: end});
    if (end) els.feedBox.scrollTop = els.feedBox.scrollHeight;
  }

  function renderFeed() {
    if (!current) return;
    var f = feedFor(current);
    var height = els.feedBox.scrollHeight, top = els.feedBox.scrollTop;
    keepFocus(function () {
      els.feed.textContent = "";
      if (!f.loaded) { els.feed.appendChild(el("li", "muted console-note", t.loading)); return; }
      if (!f.complete) {
        var li = el("li", "console-note");
        var more = button(t.older, "small secondary", function () { loadOlder(); });
        more.setAttribute("data-focus", "older");
        li.appendChild(more);
        els.feed.appendChild(li);
      }
      var offsets = sortedOffsets(f);
      if (!offsets.length) els.feed.appendChild(el("li", "muted console-note", t.noMessages));
      offsets.forEach(function (o) { els.feed.appendChild(messageItem(f.items[o])); });
      settleRoving();
    });
    // Earlier messages loaded above keep the reader where they were; anything else shows the newest.
    if (following) toBottom();
    else els.feedBox.scrollTop = top + (els.feedBox.scrollHeight - height);
  }

  function loadOlder() {
    var f = feedFor(current);
    var offsets = sortedOffsets(f);
    var frame = {type: "history", room: current, limit: 50, ref: "older"};
    if (offsets.length) frame.before = offsets[0];
    client.send(frame);
  }

  function addMessage(m) {
    var f = feedFor(m.room);
    if (m.kind === "delete") {
      var target = f.items[m.target];
      if (target) { target.deleted = true; target.text = null; }
    } else if (m.kind === "text" || m.text != null) {
      f.items[m.offset] = m;
    }
    if (m.room !== current || !f.loaded) return;
    // Your own message brings the feed back to the newest, as in any chat.
    var stick = following || !!(me && m.user && m.user.id === me.id && m.kind !== "delete");
    if (m.kind === "delete") {
      var old = els.feed.querySelector('li[data-offset="' + m.target + '"]');
      if (old && f.items[m.target]) {
        var hadFocus = old.contains(document.activeElement);
        var roving = old.getAttribute("tabindex") === "0";
        var replaced = messageItem(f.items[m.target]);
        if (roving) replaced.setAttribute("tabindex", "0");
        els.feed.replaceChild(replaced, old);
        if (hadFocus) replaced.focus();
      }
    } else if (f.items[m.offset] === m) {
      var empty = els.feed.querySelector("li.console-note.muted");
      if (empty) els.feed.removeChild(empty);
      els.feed.appendChild(messageItem(m));
      settleRoving();
      if (!stick) showMarker(unseen + 1);
    }
    if (stick) toBottom();
  }

  // Arrow keys move between messages, Home and End to the ends; Enter (or F2)
  // moves into the message's actions, Escape back to the message.
  els.feed.addEventListener("keydown", function (ev) {
    if (ev.defaultPrevented) return;
    var item = ev.target.closest ? ev.target.closest("li.console-msg") : null;
    if (!item || item.parentNode !== els.feed) return;
    var onItem = ev.target === item;
    var items = Array.prototype.slice.call(feedItems());
    var at = items.indexOf(item);
    var go = null;
    if (ev.key === "Escape" && !onItem) { ev.preventDefault(); focusMessage(item); return; }
    if (!onItem) return;
    if (ev.key === "ArrowDown") go = items[at + 1];
    else if (ev.key === "ArrowUp") go = items[at - 1];
    else if (ev.key === "Home") go = items[0];
    else if (ev.key === "End") go = items[items.length - 1];
    else if (ev.key === "Enter" || ev.key === "F2") {
      var first = item.querySelector(".console-msg-tools button");
      if (first) { ev.preventDefault(); first.focus(); }
      return;
    } else return;
    ev.preventDefault();
    if (go) focusMessage(go);
  });
  // A click or tap on a message makes it the roving one (and shows its actions on touch screens).
  els.feed.addEventListener("focusin", function (ev) {
    var item = ev.target.closest ? ev.target.closest("li.console-msg") : null;
    if (item && item.getAttribute("tabindex") !== "0") {
      Array.prototype.forEach.call(els.feed.querySelectorAll('li.console-msg[tabindex="0"]'), function (x) {
        x.setAttribute("tabindex", "-1");
      });
      item.setAttribute("tabindex", "0");
    }
  });
  els.feedBox.addEventListener("scroll", function () {
    following = nearBottom();
    if (following && unseen) showMarker(0);
  }, {passive: true});
  // A message that grows (its actions shown on focus, a sanction form opened)
  // must not lift the newest one out of view while the feed follows.
  if (window.ResizeObserver) {
    new window.ResizeObserver(function () {
      if (following) els.feedBox.scrollTop = els.feedBox.scrollHeight;
    }).observe(els.feed);
  }
  els.marker.addEventListener("click", function () {
    toBottom();
    var items = feedItems();
    if (items.length) focusMessage(items[items.length - 1]);
  });

  // Reply: the author's name starts the answer (rooms have no threads).
  function replyTo(m) {
    var start = "@" + authorName(m.user) + ", ";
    if (els.reply.value.indexOf(start) !== 0) els.reply.value = start + els.reply.value;
    els.reply.focus();
    els.reply.setSelectionRange(els.reply.value.length, els.reply.value.length);
  }

  function deleteMessage(m) {
    if (!window.confirm(t.confirmDelete)) return;
    act({type: "delete", room: m.room, offset: m.offset}, function () { notice("console-ok", t.deletedDone); });
  }

  // --- sanctions -------------------------------------------------------------

  var sanctionPanel = null, sanctionToggle = null;

  function closeSanction(refocus) {
    if (sanctionPanel && sanctionPanel.parentNode) sanctionPanel.parentNode.removeChild(sanctionPanel);
    if (sanctionToggle) {
      sanctionToggle.setAttribute("aria-expanded", "false");
      if (refocus && document.body.contains(sanctionToggle)) sanctionToggle.focus();
    }
    sanctionPanel = sanctionToggle = null;
  }

  function openSanction(li, m, toggle) {
    var again = sanctionToggle === toggle;
    closeSanction();
    if (again) { toggle.focus(); return; }
    var form = els.sanction.content.firstElementChild.cloneNode(true);
    var name = m.user.name;
    form.querySelector("legend").textContent = fill(t.sanctionFor, {name: name});
    form.addEventListener("submit", function (ev) { ev.preventDefault(); });
    form.addEventListener("keydown", function (ev) {
      if (ev.key === "Escape") { ev.preventDefault(); closeSanction(true); }
    });
    Array.prototype.forEach.call(form.querySelectorAll("button[data-kind]"), function (b) {
      b.addEventListener("click", function () {
        var kind = b.getAttribute("data-kind");
        if (kind === "cancel") { closeSanction(true); return; }
        var frame = {type: kind, user: m.user.id};
        if (kind === "mute" || kind === "ban") frame.minutes = parseInt(form.elements.minutes.value, 10);
        act(frame, function (ack) {
          var text;
          if (ack.active) text = fill(kind === "mute" ? t.muted : t.banned, {name: name, until: when(ack.until, true)});
          else if (ack.lifted) text = fill(kind === "unmute" ? t.unmuted : t.unbanned, {name: name});
          else text = fill(t.notLifted, {name: name});
          notice("console-ok", text);
          closeSanction(true);
        });
      });
    });
    li.appendChild(form);
    sanctionPanel = form;
    sanctionToggle = toggle;
    toggle.setAttribute("aria-expanded", "true");
    form.elements.minutes.focus();
  }

  // --- questions -------------------------------------------------------------

  // One view per status, chosen with the filter buttons; each shows its count.
  // Moderators see all four and start with the queue; commentators only the
  // public ones (the server sends them nothing else).
  var byCreated = function (a, b) { return a.created_at < b.created_at ? -1 : 1; };
  var qLists = {
    pending: {sort: byCreated},
    approved: {sort: function (a, b) { return (b.votes - a.votes) || byCreated(a, b); }},
    answered: {sort: function (a, b) { return (a.answered_at || "") < (b.answered_at || "") ? 1 : -1; }},
    rejected: {sort: function (a, b) { return -byCreated(a, b); }}
  };
  var MODERATED = ["pending", "rejected"];
  var qFilter = qLists[prefs.questions] ? prefs.questions : "pending";
  Object.keys(qLists).forEach(function (status) {
    var box = qLists[status];
    box.panel = $("console-q-" + status + "-box");
    box.list = $("console-q-" + status);
    box.count = $("console-q-" + status + "-count");
    box.empty = $("console-q-" + status + "-empty");
    box.button = $("console-q-filter-" + status);
    box.button.addEventListener("click", function () { showFilter(status); });
  });

  function showFilter(status) {
    qFilter = status;
    if (prefs.questions !== status) { prefs.questions = status; savePrefs(); }
    Object.keys(qLists).forEach(function (s) {
      var box = qLists[s];
      box.button.setAttribute("aria-pressed", s === status ? "true" : "false");
      box.panel.hidden = s !== status;
    });
  }

  function allowFilters() {
    MODERATED.forEach(function (s) { qLists[s].button.hidden = !moderator; });
    if (!moderator && MODERATED.indexOf(qFilter) >= 0) qFilter = "approved";
    showFilter(qFilter);
  }

  function keepQuestion(q) {
    var mine = questions[q.id];
    if (mine && q.version < mine.version) return;
    if (!mine && !q.text) return;  // a bare rejection of a question never shown here
    var merged = {};
    Object.keys(mine || {}).forEach(function (k) { merged[k] = mine[k]; });
    Object.keys(q).forEach(function (k) { if (k !== "type") merged[k] = q[k]; });
    questions[q.id] = merged;
  }

  var doneTexts = {approved: t.doneApproved, rejected: t.doneRejected, answered: t.doneAnswered};

  function moderate(q, status) {
    act({type: "moderate_question", question: q.id, status: status}, function (ack) {
      if (ack.question) { keepQuestion(ack.question); renderQuestions(); }
      notice("console-ok", doneTexts[status]);
    });
  }

  // What a moderator may do from each status (the protocol allows any move
  // but back to pending): decide the queue, close or withdraw a public
  // question, and undo a mistake.
  var ACTIONS = {
    pending: [["approve", "approved", "small"], ["reject", "rejected", "small secondary"]],
    approved: [["answered", "answered", "small"], ["reject", "rejected", "small secondary"]],
    answered: [["backToApproved", "approved", "small secondary"]],
    rejected: [["approve", "approved", "small secondary"]]
  };

  function questionItem(q) {
    var li = el("li", "console-question");
    li.setAttribute("data-question", q.id);
    var text = el("p", "console-question-text", q.text);
    text.setAttribute("dir", "auto");
    li.appendChild(text);
    var meta = el("p", "muted small-print console-question-meta");
    var parts = [fill(t.askedBy, {name: authorName(q.author)})];
    if (sessions[q.item]) parts.push(sessions[q.item]);
    if (q.locale) parts.push(languages[q.locale] || q.locale);
    if (q.status !== "pending") parts.push(fill(t.votes, {count: q.votes || 0}));
    meta.textContent = parts.join(" · ");
    li.appendChild(meta);
    if (moderator && ACTIONS[q.status]) {
      var tools = el("div", "console-msg-tools");
      ACTIONS[q.status].forEach(function (a) {
        var b = button(t[a[0]], a[2], function () { moderate(q, a[1]); });
        b.setAttribute("data-focus", "q:" + q.id + ":" + a[1]);
        tools.appendChild(b);
      });
      li.appendChild(tools);
    }
    return li;
  }

  function renderQuestions() {
    var active = document.activeElement;
    var item = active && active.closest ? active.closest(".console-question") : null;
    var list = item && item.parentNode;
    var at = list ? Array.prototype.indexOf.call(list.children, item) : -1;
    keepFocus(function () {
      Object.keys(qLists).forEach(function (status) {
        var box = qLists[status];
        var items = Object.keys(questions).map(function (id) { return questions[id]; })
          .filter(function (q) {
            return q.status === status && (!prefs.language || !q.locale || q.locale === prefs.language);
          }).sort(box.sort);
        box.list.textContent = "";
        items.forEach(function (q) { box.list.appendChild(questionItem(q)); });
        box.count.textContent = String(items.length);
        box.empty.hidden = items.length > 0;
      });
    });
    // The Questions tab (narrow screens) counts what waits: the queue for moderators.
    var waiting = Object.keys(questions).filter(function (id) {
      return questions[id].status === (moderator ? "pending" : "approved");
    }).length;
    els.qTabCount.textContent = String(waiting);
    els.qTabCount.hidden = waiting === 0;
    // The question acted on left this view: go on with the one now in its
    // place (working through the queue), else back to the view's button.
    if (list && !document.body.contains(active)) {
      var next = list.children[Math.min(at, list.children.length - 1)];
      var target = next && next.querySelector("button");
      (target || qLists[qFilter].button).focus();
    }
  }

  // --- the connection --------------------------------------------------------

  var errorTexts = {forbidden: t.errorForbidden, rate_limited: t.errorRate, not_found: t.errorNotFound,
                    invalid: t.errorInvalid};

  var client = new window.Livehall.LiveClient(t.eventId, {
    welcome: function (msg) {
      me = msg.user;
      moderator = !!msg.moderator;
      welcomeRooms = msg.rooms.slice();
      els.qNote.hidden = moderator;
      allowFilters();
      opened = opened.filter(function (name) { return welcomeRooms.indexOf(name) < 0; });
      // LiveClient rejoins the welcome rooms; the ones opened here resume by epoch/offset.
      opened.forEach(function (name) { client.join(name); });
      roomsBuffer = null;
      refreshRooms();
      client.send({type: "questions", ref: "questions"});
    },
    status: function (st) {
      if (st === "online") notice("online", "");
      else if (st === "reconnecting") notice("reconnecting", t.reconnecting);
      else if (st === "stopped") notice("stopped", t.stopped);
    },
    reset: function (room) {
      feeds[room] = {loaded: false, complete: false, items: {}};
      if (room === current) renderFeed();
    },
    history: function (msg) {
      var f = feedFor(msg.room);
      (msg.messages || []).forEach(function (m) { if (m.kind !== "delete") f.items[m.offset] = m; });
      f.loaded = true;
      f.complete = !!msg.complete;
      if (msg.room === current) { renderFeed(); markRead(); }
    },
    message: function (m) {
      var r = rooms[m.room];
      if (r && !r.epoch) r.epoch = m.epoch;
      if (r && m.offset > r.offset) r.offset = m.offset;
      addMessage(m);
      if (m.room === current) markRead();
      updateRoom(m.room);
    },
    ack: function (msg) {
      var done = callbacks[msg.ref];
      delete callbacks[msg.ref];
      if (done) done(msg);
    },
    error: function (msg) {
      delete callbacks[msg.ref];
      if (msg.ref === "rooms") roomsBuffer = null;
      var text = errorTexts[msg.code] || t.errorOther;
      notice("console-error", text);
    },
    rooms: receiveRooms,
    support: receiveSupport,
    room_settings: function (msg) {
      var r = rooms[msg.room];
      if (!r) return;
      r.slow_mode = msg.slow_mode;
      if (msg.room === current) showSlowMode();
    },
    questions: function (msg) {
      (msg.questions || []).forEach(keepQuestion);
      renderQuestions();
    },
    question: function (q) { keepQuestion(q); renderQuestions(); },
    question_votes: function (msg) {
      var changed = false;
      Object.keys(msg.votes || {}).forEach(function (id) {
        if (questions[id] && questions[id].votes !== msg.votes[id]) { questions[id].votes = msg.votes[id]; changed = true; }
      });
      if (changed) renderQuestions();
    }
  });

  els.replyForm.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var text = els.reply.value.trim();
    if (!current || !text) return;
    client.say(current, text);
    els.reply.value = "";
  });
  els.reply.addEventListener("keydown", function (ev) {
    if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      els.replyForm.requestSubmit ? els.replyForm.requestSubmit() : els.replyForm.dispatchEvent(new Event("submit"));
    }
  });
  els.slowForm.addEventListener("submit", function (ev) {
    ev.preventDefault();
    if (!current) return;
    var seconds = parseInt(els.slow.value, 10);
    act({type: "slow_mode", room: current, seconds: seconds}, function (ack) {
      if (rooms[ack.room]) rooms[ack.room].slow_mode = ack.slow_mode;
      notice("console-ok", ack.slow_mode ? fill(t.slowOn, {seconds: ack.slow_mode}) : t.slowOff);
    });
  });
  // --- filters, views and layout -------------------------------------------

  els.language.value = prefs.language && languages[prefs.language] ? prefs.language : "";
  prefs.language = els.language.value;
  els.unreadOnly.checked = !!prefs.unreadOnly;
  els.language.addEventListener("change", function () {
    prefs.language = els.language.value;
    savePrefs();
    renderRooms();
    renderQuestions();
  });
  els.unreadOnly.addEventListener("change", function () {
    prefs.unreadOnly = els.unreadOnly.checked;
    savePrefs();
    renderRooms();
  });
  els.toastOpen.addEventListener("click", function () {
    var room = toastRoom;
    closeToast();
    if (room && rooms[room]) { showTab("chat"); openRoom(room, true); }
  });
  els.toastClose.addEventListener("click", closeToast);

  // Below 1100 px the chat and the questions are two tabs; above, side by side.
  var wide = window.matchMedia("(min-width: 1100px)");
  var tabs = Array.prototype.slice.call(els.tabs.querySelectorAll("[role=tab]"));
  var panels = {chat: els.chat, questions: els.questions};

  function showTab(name, focus) {
    prefs.tab = name;
    savePrefs();
    root.setAttribute("data-tab", name);
    tabs.forEach(function (tab) {
      var on = tab.getAttribute("data-tab") === name;
      tab.setAttribute("aria-selected", on ? "true" : "false");
      tab.tabIndex = on ? 0 : -1;
      if (on && focus) tab.focus();
    });
    sizeColumns();
    if (name === "chat" && following) toBottom();
  }

  function applyWidth() {
    // Tab roles only where tabs are shown; side by side the panels are plain regions.
    Object.keys(panels).forEach(function (name) {
      if (wide.matches) panels[name].removeAttribute("role");
      else panels[name].setAttribute("role", "tabpanel");
      if (name === "chat") {
        if (wide.matches) panels[name].removeAttribute("aria-labelledby");
        else panels[name].setAttribute("aria-labelledby", "console-tab-chat");
      }
    });
    sizeColumns();
  }

  tabs.forEach(function (tab, i) {
    tab.addEventListener("click", function () { showTab(tab.getAttribute("data-tab")); });
    tab.addEventListener("keydown", function (ev) {
      var step = {ArrowRight: 1, ArrowLeft: -1}[ev.key];
      if (!step) return;
      if (document.documentElement.dir === "rtl") step = -step;
      ev.preventDefault();
      showTab(tabs[(i + step + tabs.length) % tabs.length].getAttribute("data-tab"), true);
    });
  });

  // The columns fill the window below where the console starts (or the whole
  // window under the sticky filters when the console starts far down, as on
  // phones below the menu), so the feed is as tall as the screen allows.
  function sizeColumns() {
    var bar = $("console-toolbar").getBoundingClientRect().height;
    var start = els.chat.getBoundingClientRect().top + window.scrollY;
    var height = window.innerHeight - start - 16;
    if (height < window.innerHeight * 0.6) height = window.innerHeight - bar - 24;
    root.style.setProperty("--console-height", Math.max(320, Math.round(height)) + "px");
  }

  showTab(prefs.tab === "questions" ? "questions" : "chat");
  applyWidth();
  if (wide.addEventListener) wide.addEventListener("change", applyWidth);
  window.addEventListener("resize", sizeColumns, {passive: true});

  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState !== "visible") return;
    // Back in view: the public rooms' counts may have moved meanwhile.
    refreshRooms();
    markRead();
  });
})();
