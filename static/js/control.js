// The live control page (admin/control.html), live without reloads.
//
// Every form marked data-live is sent with fetch() and `Accept:
// application/json`; the answer carries the event's control state
// (admin/control.py `snapshot`), which is applied to the page at once.
// Changes made elsewhere (a second admin, another tab, a deck edit) arrive
// as `state` frames over the event's WebSocket (static/js/live.js); a newer
// state_version makes the page fetch the snapshot again, since the frame
// only carries the reader's own language and the page shows every language.
// `presence` frames bring the viewer counts, `reactions` frames the running
// totals of reactions.
//
// The presenter view shows the current and the next slide of the language
// picked above it; the preview shows what an attendee of the language picked
// there sees, from `state.attendees` (the very state attendees are sent).
// Both pickers act at once (without scripts they are GET forms).
//
// A form marked data-confirm asks first: the #control-confirm dialog says
// the consequence (the attribute); "Open the gate" says more while the
// official start is still ahead. The sources table (data-sources) is one
// form: a refusal names the bad rows, each error shown under its row.
//
// Keyboard: next / previous slide with the arrow keys in the reading
// direction (in right-to-left languages ← is "next") and with Page Down /
// Page Up (what presentation clickers send), Home / End for the first and
// last slide, G to the "go to slide" field. Keys typed into a field are left
// alone. One request at a time: while it runs the action buttons are marked
// aria-disabled and further presses and keys are ignored, so a held key
// cannot queue dozens of flips. Texts come translated in data attributes;
// nothing from the server is inserted as markup.
(function () {
  "use strict";
  var root = document.getElementById("control");
  if (!root || !window.fetch || !window.URLSearchParams) return;
  var t = root.dataset;
  var lang = document.documentElement.lang || undefined;
  var rtl = document.documentElement.dir === "rtl";
  var base = "/admin/events/" + t.eventId + "/control";
  var numbers = new Intl.NumberFormat(lang);
  var $ = function (id) { return document.getElementById(id); };
  var els = {
    connection: $("control-connection"), messages: $("control-messages"), errors: $("control-errors"),
    position: $("slide-position"), gotoInput: $("goto-number"), startText: $("official-start-text"),
    startInput: $("official-start"), daysChanged: $("days-changed"), unavailable: $("viewers-unavailable"),
    stripStart: $("strip-start"), presenter: $("presenter"), presenterLocale: $("presenter-locale"),
    preview: $("preview-screen"), previewLocale: $("preview-locale"), sources: $("sources-form"),
    dialog: $("control-confirm"), dialogText: $("control-confirm-text"), dialogOk: $("control-confirm-ok")
  };
  var state = JSON.parse(t.state);
  var busy = false;
  var fetching = false, fetchAgain = false;
  var messageTimer = null;

  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, function (_, k) { return values[k] == null ? "" : values[k]; });
  }

  function each(selector, fn) {
    Array.prototype.forEach.call(root.querySelectorAll(selector), fn);
  }

  function shown(el) {
    return !!el && !el.closest("[hidden]") && el.getClientRects().length > 0;
  }

  // --- messages ----------------------------------------------------------------

  function notice(container, className, text) {
    container.textContent = "";
    if (!text) return;
    var p = document.createElement("p");
    p.className = className;
    p.textContent = text;
    container.appendChild(p);
  }

  function say(text) {
    notice(els.errors, "", "");
    notice(els.messages, "flash flash-success", text);
    clearTimeout(messageTimer);
    messageTimer = setTimeout(function () { notice(els.messages, "", ""); }, 10000);
  }

  function fail(text) {
    clearTimeout(messageTimer);
    notice(els.messages, "", "");
    notice(els.errors, "flash flash-error error-message", text || t.errorOther);
  }

  function connection(kind, text) {
    els.connection.hidden = !text;
    els.connection.className = "live-status " + kind;
    els.connection.textContent = text || "";
  }

  // --- applying a state --------------------------------------------------------

  function gateOpen(s) {
    if (s.gate.mode === "open") return true;
    if (s.gate.mode === "closed") return false;
    // Automatic: opens at the official start, with no change to announce.
    return !!s.gate.official_start && Date.parse(s.gate.official_start) <= Date.now();
  }

  function conditions(s) {
    var open = gateOpen(s);
    var c = {
      "slides-visible": s.slides.visible, "slides-hidden": !s.slides.visible,
      "slides-any": s.slides.count > 0, "slides-none": s.slides.count === 0,
      "broadcast-on": s.broadcast.on, "broadcast-off": !s.broadcast.on,
      "gate-open": open, "gate-closed": !open,
      "gate-mode-open": s.gate.mode === "open", "gate-mode-closed": s.gate.mode === "closed",
      "gate-mode-auto": s.gate.mode === "auto",
      "viewers-shown": !!s.viewers_shown, "viewers-hidden": !s.viewers_shown,
      "reactions-on": s.reactions_on !== false, "reactions-off": s.reactions_on === false
    };
    Object.keys(s.days).forEach(function (id) {
      c["day-on:" + id] = s.days[id];
      c["day-off:" + id] = !s.days[id];
    });
    return c;
  }

  function applyConditions(s) {
    var c = conditions(s);
    each("[data-when]", function (el) {
      var key = el.getAttribute("data-when");
      if (key in c) el.hidden = !c[key];
    });
    each("[data-pressed-when]", function (el) {
      var on = !!c[el.getAttribute("data-pressed-when")];
      el.setAttribute("aria-pressed", on ? "true" : "false");
      el.classList.toggle("secondary", !on);
    });
  }

  // A field someone is editing keeps what they typed; others follow the state.
  function sync(field, value) {
    if (!field || field === document.activeElement) return;
    var synced = field.getAttribute("data-synced");
    if (synced === null) synced = field.tagName === "SELECT" ? field.value : field.defaultValue;
    if (field.value !== synced) return;
    field.value = value;
    if (field.tagName !== "SELECT") field.defaultValue = value;
    field.setAttribute("data-synced", value);
  }

  function showImage(img, url) {
    if (url) {
      if (img.getAttribute("src") !== url) img.setAttribute("src", url);
      img.hidden = false;
    } else {
      img.removeAttribute("src");
      img.hidden = true;
    }
  }

  function applyPresenter(s) {
    var locale = els.presenterLocale.value;
    var one = s.slides.locales[locale];
    if (!one) return;
    els.presenter.setAttribute("data-locale", locale);
    els.presenter.setAttribute("data-slide-number", String(one.number));
    showImage($("presenter-now"), one.url);
    $("presenter-now-none").hidden = !!one.url;
    var nowText = $("presenter-now-text");
    nowText.hidden = !one.total;
    nowText.textContent = fill(t.slideOf, {number: one.number, count: one.total});
    showImage($("presenter-next"), one.next_url);
    var none = $("presenter-next-none");
    none.hidden = !!one.next_url;
    if (one.total) none.textContent = t.nextNone;
    $("presenter-next-text").textContent = !one.next_url ? "" :
      fill(one.next_number === one.number ? t.nextSame : t.nextOf, {number: one.next_number});
  }

  function applyPreview(s) {
    var locale = els.previewLocale.value;
    var a = (s.attendees || {})[locale];
    if (!a) return;
    var root = els.preview;
    root.setAttribute("data-locale", locale);
    var on = {
      "gate-open": a.gate.open, "gate-closed": !a.gate.open,
      "paused": !a.broadcast.on, "nosource": a.broadcast.on && !a.broadcast.embed,
      "source": a.broadcast.on && !!a.broadcast.embed,
      "slides-hidden": !a.slides.visible, "slides-none": a.slides.visible && !a.slides.url,
      "slide": a.slides.visible && !!a.slides.url
    };
    Array.prototype.forEach.call(root.querySelectorAll("[data-preview]"), function (el) {
      el.hidden = !on[el.getAttribute("data-preview")];
    });
    $("preview-facts").hidden = !a.gate.open;
    var kind = a.broadcast.kind ? els.previewLocale.form.getAttribute("data-kind-" + a.broadcast.kind) : "";
    $("preview-kind").textContent = kind || "";
    $("preview-embed").textContent = a.broadcast.embed || "";
    $("preview-day").textContent = (a.day && a.day.title) || t.noDay;
    $("preview-slide-text").textContent = fill(t.slideOf, {number: a.slides.number, count: a.slides.total});
    showImage($("preview-slide"), a.gate.open && a.slides.visible ? a.slides.url : null);
  }

  function applySlides(s) {
    var slides = s.slides;
    applyPresenter(s);
    applyPreview(s);
    if (slides.count) els.position.textContent = fill(t.slideOf, {number: slides.index + 1, count: slides.count});
    els.gotoInput.max = String(Math.max(1, slides.count));
    each(".control-slides li[data-locale]", function (li) {
      var one = slides.locales[li.getAttribute("data-locale")];
      if (!one) return;
      showImage(li.querySelector("[data-slide-image]"), one.url);
      li.querySelector("[data-slide-none]").hidden = !!one.url;
      var count = li.querySelector("[data-slide-count]");
      count.hidden = !one.total;
      count.textContent = fill(t.slideOf, {number: one.number, count: one.total});
      li.querySelector("[data-slide-fallback]").hidden = one.own || !one.total;
      li.setAttribute("data-slide-number", String(one.number));
    });
  }

  function apply(s) {
    if (!s || s.state_version < state.state_version) return;
    var active = document.activeElement;
    var group = active && active.closest ? active.closest("[data-focus-group]") : null;
    state = s;
    root.setAttribute("data-state-version", String(s.state_version));
    applyConditions(s);
    applySlides(s);
    Object.keys(s.broadcast.sources).forEach(function (locale) {
      sync(els.sources.elements["kind-" + locale], s.broadcast.sources[locale].kind);
      sync(els.sources.elements["url-" + locale], s.broadcast.sources[locale].url);
    });
    sync(els.startInput, s.gate.official_start_input);
    els.startText.textContent = s.gate.official_start_text;
    els.stripStart.textContent = s.gate.official_start_when || t.notSet;
    var rows = [];
    each("li[data-day]", function (tr) { rows.push(tr.getAttribute("data-day")); });
    var ids = Object.keys(s.days);
    els.daysChanged.hidden = rows.length === ids.length && ids.every(function (id) { return rows.indexOf(id) >= 0; });
    // The button just pressed may have given way to its opposite (on / off):
    // keyboard focus moves there instead of falling back to the page.
    if (group && !shown(active)) {
      var name = group.getAttribute("data-focus-group");
      var next = Array.prototype.filter.call(root.querySelectorAll('[data-focus-group="' + name + '"] button'), shown)[0];
      if (next) next.focus();
    }
  }

  // --- talking to the server ---------------------------------------------------

  function xsrf() {
    var field = root.querySelector("input[name=_xsrf]");
    return field ? field.value : "";
  }

  function setBusy(on) {
    busy = on;
    root.classList.toggle("is-busy", on);
    each("form[data-live] button", function (b) {
      if (on) b.setAttribute("aria-disabled", "true"); else b.removeAttribute("aria-disabled");
    });
  }

  function request(url, options) {
    var controller = window.AbortController ? new AbortController() : null;
    var timer = controller ? setTimeout(function () { controller.abort(); }, 15000) : null;
    options.credentials = "same-origin";
    if (controller) options.signal = controller.signal;
    return fetch(url, options).then(function (r) {
      return r.json().then(function (data) { return {ok: r.ok, data: data}; },
                           function () { return {ok: false, data: null}; });
    }).then(function (res) { clearTimeout(timer); return res; },
            function (err) { clearTimeout(timer); throw err; });
  }

  // The sources table: each row's error under it (or none).
  function sourceErrors(rows) {
    each("tr[data-source]", function (tr) {
      var locale = tr.getAttribute("data-source");
      var text = (rows || {})[locale] || "";
      var error = tr.querySelector("[data-source-error]");
      var input = els.sources.elements["url-" + locale];
      error.textContent = text;
      error.hidden = !text;
      tr.classList.toggle("is-invalid", !!text);
      if (text) input.setAttribute("aria-invalid", "true"); else input.removeAttribute("aria-invalid");
    });
  }

  // One control action: POST /control/<action>, then show what the server answered.
  function send(action, fields) {
    if (busy) return;
    setBusy(true);
    var body = new URLSearchParams();
    Object.keys(fields || {}).forEach(function (k) { body.append(k, fields[k]); });
    if (!body.has("_xsrf")) body.append("_xsrf", xsrf());
    request(base + "/" + action, {
      method: "POST", body: body,
      headers: {"Accept": "application/json", "X-Xsrftoken": xsrf()}
    }).then(function (res) {
      var data = res.data || {};
      if (action === "broadcast_sources") {
        // The fields keep what was typed: a saved row now matches the state, a bad one waits to be fixed.
        if (res.ok) each("tr[data-source] input, tr[data-source] select", function (f) { f.removeAttribute("data-synced"); if (f.tagName !== "SELECT") f.defaultValue = f.value; });
        sourceErrors(res.ok ? null : data.rows);
        var result = $("sources-result");
        result.textContent = data.message || (res.ok ? "" : t.errorOther);
        result.classList.toggle("is-error", !res.ok);
        if (!res.ok && data.rows) {
          var first = root.querySelector("tr.is-invalid input");
          if (first) first.focus();
        }
      }
      if (data.state) apply(data.state);
      if (res.ok) say(data.message); else fail(data.message);
    }, function () {
      fail(t.networkError);
    }).then(function () { setBusy(false); });
  }

  // The page is behind the event: fetch the snapshot (once at a time).
  function refresh() {
    if (fetching) { fetchAgain = true; return; }
    fetching = true;
    fetchAgain = false;
    request(base, {method: "GET", headers: {"Accept": "application/json"}}).then(function (res) {
      if (!res.ok) return;
      // Someone else changed the event: the message about this page's last action is old news.
      if (res.data.state_version > state.state_version) notice(els.messages, "", "");
      apply(res.data);
    }, function () { /* the next state frame or reconnect tries again */ }).then(function () {
      fetching = false;
      if (fetchAgain) refresh();
    });
  }

  function submitLive(form) {
    var action = form.getAttribute("action").split("/").pop();
    var fields = {};
    new FormData(form).forEach(function (value, key) { fields[key] = value; });
    send(action, fields);
  }

  // --- confirmations -----------------------------------------------------------

  var pending = null, returnFocus = null;

  function consequence(form) {
    var when = state.gate.official_start;
    if (form.hasAttribute("data-confirm-early") && when && Date.parse(when) > Date.now()) {
      return fill(t.gateEarly, {when: state.gate.official_start_when});
    }
    return form.getAttribute("data-confirm");
  }

  function confirmFirst(form) {
    if (!els.dialog || typeof els.dialog.showModal !== "function") { submitLive(form); return; }
    pending = form;
    returnFocus = document.activeElement;
    els.dialogText.textContent = consequence(form);
    var button = form.querySelector("button[type=submit]");
    els.dialogOk.textContent = button ? button.textContent.trim() : "OK";
    els.dialog.returnValue = "";
    els.dialog.showModal();
    els.dialogOk.focus();
  }

  if (els.dialog) {
    els.dialog.addEventListener("close", function () {
      var form = pending;
      pending = null;
      var ok = els.dialog.returnValue === "ok";
      if (returnFocus && returnFocus.focus) returnFocus.focus();
      if (ok && form) submitLive(form);
    });
  }

  root.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (!form.hasAttribute("data-live")) return;
    ev.preventDefault();
    if (busy) return;
    if (form.hasAttribute("data-confirm")) confirmFirst(form); else submitLive(form);
  });

  // --- the language pickers act at once ----------------------------------------

  each("[data-without-script]", function (el) { el.hidden = true; });
  [els.presenterLocale, els.previewLocale].forEach(function (select) {
    select.form.addEventListener("submit", function (ev) { ev.preventDefault(); });
    select.addEventListener("change", function () { applySlides(state); });
  });

  // --- keyboard ----------------------------------------------------------------

  var NEXT_ARROW = rtl ? "ArrowLeft" : "ArrowRight";
  var PREV_ARROW = rtl ? "ArrowRight" : "ArrowLeft";

  document.addEventListener("keydown", function (ev) {
    if (ev.defaultPrevented || ev.altKey || ev.ctrlKey || ev.metaKey || ev.isComposing) return;
    var target = ev.target;
    if (els.dialog && els.dialog.open) return;
    if (target && (target.isContentEditable || /^(INPUT|SELECT|TEXTAREA)$/.test(target.tagName))) return;
    var count = state.slides.count;
    if (!count) return;
    if (ev.code === "KeyG" || ev.key === "g" || ev.key === "G") {
      ev.preventDefault();
      els.gotoInput.focus();
      els.gotoInput.select();
      return;
    }
    if (ev.shiftKey) return;
    var action = null, fields = {};
    if (ev.key === NEXT_ARROW || ev.key === "PageDown") action = "slide_next";
    else if (ev.key === PREV_ARROW || ev.key === "PageUp") action = "slide_prev";
    else if (ev.key === "Home") { action = "slide_goto"; fields.number = "1"; }
    else if (ev.key === "End") { action = "slide_goto"; fields.number = String(count); }
    if (!action) return;
    ev.preventDefault();
    send(action, fields);
  });

  // --- live --------------------------------------------------------------------

  function showPresence(p) {
    each("[data-presence-total]", function (el) { el.textContent = numbers.format(p.total || 0); });
    var locales = p.locales || {};
    each("[data-presence-locale]", function (el) {
      el.textContent = numbers.format(locales[el.getAttribute("data-presence-locale")] || 0);
    });
    var days = p.days || {};
    each("[data-presence-day]", function (el) {
      var n = days[el.getAttribute("data-presence-day")];
      el.hidden = n == null;
      el.textContent = n == null ? "" : fill(el.getAttribute("data-template"), {count: numbers.format(n)});
    });
    els.unavailable.hidden = true;
  }

  // Running totals only grow: a frame that arrives late never takes one back.
  function showReactions(r) {
    var totals = r.totals || {};
    each("[data-reaction-total]", function (el) {
      var n = totals[el.getAttribute("data-reaction-total")];
      var shownNow = Number(el.getAttribute("data-count") || -1);
      if (typeof n === "number" && n > shownNow) {
        el.setAttribute("data-count", String(n));
        el.textContent = numbers.format(n);
      }
    });
  }

  if (window.Livehall && window.Livehall.LiveClient && window.WebSocket) {
    window.Livehall.controlClient = new window.Livehall.LiveClient(t.eventId, {
      state: function (frame, client) {
        // LiveClient passes only newer versions; the page may already be there.
        if (client.stateVersion > state.state_version) refresh();
      },
      presence: showPresence,
      reactions: showReactions,
      status: function (st) {
        if (st === "online") connection("online", "");
        else if (st === "reconnecting") connection("reconnecting", t.reconnecting);
        else if (st === "stopped") connection("stopped", t.stopped);
      }
    }, {rooms: false});
  }

  // The automatic gate opens by the clock, without any state change.
  setInterval(function () { applyConditions(state); }, 15000);
})();
