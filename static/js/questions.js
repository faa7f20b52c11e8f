// Questions to the speakers on the event page (the "Questions" tab beside
// Chat and Support): ask a question for a session, see your own while they
// await moderation, and the approved ones of the session ordered by votes,
// with a vote toggle and counts that change live. The contract is
// docs/protocol.md, "Questions to speakers"; the frames travel over the
// page's one LiveClient (Livehall.onFrame). Questions and names from the
// server are inserted with textContent only; the tab's own texts come
// translated from data attributes.
(function () {
  "use strict";
  var pane = document.getElementById("chat-pane-questions");
  var L = window.Livehall;
  if (!pane || !L || !L.onFrame) return;
  var form = pane.querySelector(".question-form");
  if (!form) return;  // the schedule has no sessions: nothing to ask about
  var t = pane.dataset;
  var MAX = parseInt(t.max, 10) || 500;
  var select = form.querySelector("select");
  var text = form.querySelector("textarea");
  var count = form.querySelector(".question-count > span");
  var submitButton = form.querySelector("button[type=submit]");
  var error = pane.querySelector(".question-error");
  var notice = pane.querySelector(".question-notice");
  var list = pane.querySelector(".question-list");
  var empty = pane.querySelector(".question-empty");

  var me = null;        // welcome.user
  var online = false;
  var store = {};       // question id -> question object (+ voted, stamp)
  var nodes = {};       // question id -> its <li>
  var asking = {};      // client_id -> {item, text}: our questions awaiting their ack
  var voting = {};      // question id -> true while a vote or unvote awaits its answer
  var requests = 0;     // `questions` lists asked for; a list drops only what it could have seen

  function fill(template, values) {
    return String(template || "").replace(/\{(\w+)\}/g, function (_, k) { return values[k]; });
  }

  function formatTime(iso) {
    var d = new Date(iso);
    if (isNaN(d.getTime())) return "";
    var today = d.toDateString() === new Date().toDateString();
    var opts = today ? {timeStyle: "short"} : {dateStyle: "short", timeStyle: "short"};
    try { return new Intl.DateTimeFormat(document.documentElement.lang || undefined, opts).format(d); }
    catch (e) { return d.toLocaleString(); }
  }

  // ---- the session: the one running now, else the next one, else the last --

  function defaultItem() {
    var opts = Array.prototype.slice.call(select.options), now = Date.now();
    var running = null, next = null, nextStart = Infinity;
    opts.forEach(function (o, i) {
      var start = Date.parse(o.getAttribute("data-starts"));
      var endAttr = o.getAttribute("data-ends");
      // Without an end, a session lasts until the next one begins (or an hour).
      var end = endAttr ? Date.parse(endAttr)
        : (opts[i + 1] ? Date.parse(opts[i + 1].getAttribute("data-starts")) : start + 3600000);
      if (start <= now && now < end) running = o;
      if (start > now && start < nextStart) { next = o; nextStart = start; }
    });
    var pick = running || next || opts[opts.length - 1];
    return pick ? pick.value : "";
  }
  select.value = defaultItem();

  // ---- the list -------------------------------------------------------------

  function own(q) {
    return !!(me && q.author && q.author.id === me.id);
  }

  // Others' pending and rejected questions reach moderators only; this tab
  // shows them the public list like everyone else (the console moderates).
  function shown(q) {
    if (q.status === "approved" || q.status === "answered") return true;
    return own(q) && (q.status === "pending" || q.status === "rejected");
  }

  var RANK = {pending: 0, approved: 1, answered: 2, rejected: 3};

  function compare(a, b) {
    var r = RANK[a.status] - RANK[b.status];
    if (r) return r;
    if (a.status === "approved" && a.votes !== b.votes) return b.votes - a.votes;
    if (a.status === "answered" && a.answered_at !== b.answered_at) return (b.answered_at || "") < (a.answered_at || "") ? -1 : 1;
    if (a.created_at !== b.created_at) return (a.created_at || "") < (b.created_at || "") ? -1 : 1;
    return a.id < b.id ? -1 : 1;
  }

  function build(q) {
    var li = document.createElement("li");
    li.setAttribute("data-id", q.id);
    var head = document.createElement("div");
    head.className = "chat-meta";
    var name = document.createElement("span");
    name.className = "chat-name";
    head.appendChild(name);
    var you = document.createElement("span");
    you.className = "chat-you";
    head.appendChild(you);
    var badge = document.createElement("span");
    badge.className = "badge question-status";
    head.appendChild(badge);
    var time = document.createElement("time");
    head.appendChild(time);
    var body = document.createElement("p");
    body.className = "chat-text question-text";
    body.id = "question-text-" + q.id;
    body.setAttribute("dir", "auto");
    var note = document.createElement("p");
    note.className = "question-note muted small-print";
    var row = document.createElement("div");
    row.className = "question-row";
    var votes = document.createElement("span");
    votes.className = "question-votes";
    var vote = document.createElement("button");
    vote.type = "button";
    vote.className = "secondary small question-vote";
    vote.textContent = t.vote;
    vote.setAttribute("aria-describedby", body.id);
    vote.addEventListener("click", function () { toggleVote(q.id); });
    row.appendChild(votes);
    row.appendChild(vote);
    li.appendChild(head);
    li.appendChild(body);
    li.appendChild(note);
    li.appendChild(row);
    return li;
  }

  function update(li, q) {
    var mine = own(q);
    li.className = "question question-" + q.status + (mine ? " own" : "");
    li.querySelector(".chat-name").textContent = q.author && q.author.erased ? t.erasedUser : ((q.author && q.author.name) || "");
    var you = li.querySelector(".chat-you");
    you.textContent = mine ? t.you : "";
    you.hidden = !mine;
    var badge = li.querySelector(".question-status");
    badge.textContent = q.status === "answered" ? t.answered : q.status === "rejected" ? t.rejected : "";
    badge.hidden = !badge.textContent;
    var time = li.querySelector("time");
    time.setAttribute("datetime", q.created_at || "");
    time.textContent = q.created_at ? formatTime(q.created_at) : "";
    var body = li.querySelector(".question-text");
    if (body.textContent !== q.text) body.textContent = q.text;
    var note = li.querySelector(".question-note");
    note.textContent = q.status === "pending" ? t.pendingNote : "";
    note.hidden = !note.textContent;
    var isPublic = q.status === "approved" || q.status === "answered";
    var votes = li.querySelector(".question-votes");
    votes.textContent = isPublic ? fill(t.votes, {count: q.votes || 0}) : "";
    votes.hidden = !isPublic;
    var vote = li.querySelector(".question-vote");
    // Only approved questions take votes, and not their author's.
    vote.hidden = q.status !== "approved" || mine;
    vote.setAttribute("aria-pressed", q.voted ? "true" : "false");
    vote.disabled = !online || !!voting[q.id];
  }

  function render() {
    var item = select.value;
    var items = Object.keys(store).map(function (id) { return store[id]; })
      .filter(function (q) { return q.item === item && shown(q); }).sort(compare);
    var keep = {};
    items.forEach(function (q) { keep[q.id] = true; });
    Object.keys(nodes).forEach(function (id) {
      if (!keep[id]) { nodes[id].remove(); delete nodes[id]; }
    });
    // Moving a node takes its focus away: give it back (a vote moves a question up).
    var focused = list.contains(document.activeElement) ? document.activeElement : null;
    items.forEach(function (q, i) {
      var li = nodes[q.id] || (nodes[q.id] = build(q));
      update(li, q);
      if (list.children[i] !== li) list.insertBefore(li, list.children[i] || null);
    });
    if (focused && focused.isConnected && document.activeElement !== focused) focused.focus({preventScroll: true});
    empty.hidden = items.length > 0;
  }

  // Keeps the newer copy: a list and a live frame may cross.
  function take(q, voted) {
    var held = store[q.id];
    if (held && q.version < held.version) return;
    var merged = {};
    Object.keys(held || {}).forEach(function (k) { merged[k] = held[k]; });
    Object.keys(q).forEach(function (k) { if (k !== "type") merged[k] = q[k]; });
    if (typeof voted === "boolean") merged.voted = voted;
    else if (held) merged.voted = held.voted;
    merged.stamp = requests;
    store[q.id] = merged;
  }

  function load() {
    if (!L.client || !select.value) return;
    requests += 1;
    L.client.send({type: "questions", item: select.value, ref: "ql:" + requests});
  }

  // ---- the form -----------------------------------------------------------

  function updateForm() {
    var n = text.value.length;
    text.disabled = !online;
    submitButton.disabled = !online || !text.value.trim() || n > MAX || !select.value;
    count.textContent = n + " / " + MAX;
    count.parentNode.classList.toggle("over", n > MAX);
  }

  function showError(message) {
    error.textContent = message || "";
    error.hidden = !message;
  }

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var value = text.value;
    if (!online || !L.client || !value.trim() || value.length > MAX || !select.value) return;
    showError("");
    notice.textContent = "";
    var id = "q" + Date.now().toString(36) + Math.random().toString(36).slice(2, 8);
    asking[id] = {item: select.value, text: value};
    L.client.sendUntilAcked({type: "ask", item: select.value, text: value, client_id: id});
    text.value = "";
    updateForm();
  });
  text.addEventListener("input", updateForm);
  select.addEventListener("change", function () {
    showError("");
    render();
    load();
  });

  function toggleVote(id) {
    var q = store[id];
    if (!q || !online || !L.client || voting[id]) return;
    voting[id] = true;
    showError("");
    L.client.send({type: q.voted ? "unvote" : "vote", question: id, ref: "qv:" + id});
    render();
  }

  function askError(code) {
    switch (code) {
      case "invalid": return t.errorInvalid;
      case "not_found": return t.errorNotFound;
      case "too_many_pending": return t.errorTooMany;
      case "rate_limited": return t.errorRate;
      default: return t.errorOther;
    }
  }

  function voteError(code) {
    switch (code) {
      case "forbidden": return t.errorForbidden;
      case "not_found": return t.errorVoteNotFound;
      case "rate_limited": return t.errorRate;
      default: return t.errorVote;
    }
  }

  // ---- frames ---------------------------------------------------------------

  L.onFrame("welcome", function (w) {
    me = w.user;
    // A new connection: what it sends from now on is current, and the list
    // brings what happened while we were away.
    voting = {};
    load();
    render();
  });

  L.onFrame("status", function (st) {
    online = st === "online";
    if (!online) voting = {};
    updateForm();
    render();
  });

  L.onFrame("questions", function (f) {
    var n = typeof f.ref === "string" && f.ref.indexOf("ql:") === 0 ? parseInt(f.ref.slice(3), 10) : null;
    var inList = {};
    (f.questions || []).forEach(function (q) { inList[q.id] = true; take(q, q.voted); });
    // What this list does not hold any more is gone (rejected while we were
    // away), unless it arrived after the list was asked for.
    if (n !== null && f.complete && f.item) {
      Object.keys(store).forEach(function (id) {
        var q = store[id];
        if (q.item === f.item && !inList[id] && q.stamp < n) delete store[id];
      });
    }
    render();
  });

  L.onFrame("question", function (q) {
    var held = store[q.id];
    if (q.status === "rejected" && !q.text) {
      // The public removal: no text, only which question to drop.
      if (!held || q.version < held.version) return;
      if (own(held)) { held.status = "rejected"; held.version = q.version; }
      else delete store[q.id];
    } else {
      take(q);
    }
    render();
  });

  L.onFrame("question_votes", function (f) {
    var votes = f.votes || {};
    Object.keys(votes).forEach(function (id) {
      if (store[id]) store[id].votes = votes[id];
    });
    render();
  });

  L.onFrame("ack", function (a) {
    if (a.question && typeof a.question === "object") {
      // Our question is stored (also a repeat sent after a reconnect).
      var mine = a.client_id && asking[a.client_id];
      delete asking[a.client_id];
      take(a.question);
      if (mine && a.question.status === "pending") notice.textContent = t.sent;
      if (mine && a.question.item !== select.value) {
        select.value = a.question.item;
        load();
      }
      render();
    } else if (typeof a.question === "string" && typeof a.voted === "boolean") {
      delete voting[a.question];
      var q = store[a.question];
      if (q) { q.voted = a.voted; q.votes = a.votes; }
      render();
    }
  });

  L.onFrame("error", function (e) {
    if (e.ref == null) return;
    var ref = String(e.ref);
    if (asking[ref]) {
      var mine = asking[ref];
      delete asking[ref];
      if (L.client && L.client.forget) L.client.forget(ref);
      // A refused question is not lost: it goes back to the box.
      if (!text.value) {
        text.value = mine.text;
        if (select.value !== mine.item && Array.prototype.some.call(select.options, function (o) { return o.value === mine.item; })) {
          select.value = mine.item;
          render();
        }
      }
      showError(askError(e.code));
      updateForm();
    } else if (ref.indexOf("qv:") === 0) {
      delete voting[ref.slice(3)];
      showError(voteError(e.code));
      render();
    }
  });

  updateForm();
  render();
})();
