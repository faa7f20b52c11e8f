// The stage of the event page: how the player, the slide and the panels are
// laid out (static/css/live.css does the layout; this file keeps its state).
//
// Phones: the tab bar under the pinned player shows one section at a time.
// Chat, Questions and Support select the chat panel's own tabs (chat.js
// keeps them), so a tab is shown here only while its chat tab is, and the
// unread counts chat.js keeps on its tabs are copied onto these. While
// Slides or Programme is in view no chat pane is, so chat.js counts what
// arrives as unread.
// Wide screens: the video and the current slide side by side; a swap and a
// "slides large" mode, remembered in localStorage.
// Everywhere: the slide opens full screen (the Fullscreen API, or an overlay
// where the browser has none), where it can be pinch-zoomed.
(function () {
  "use strict";
  var layout = document.getElementById("stage-layout");
  var stage = document.getElementById("stage");
  if (!layout || !stage) return;
  var L = window.Livehall = window.Livehall || {};
  var chat = document.getElementById("chat");
  var bar = stage.querySelector(".stage-tabs");
  var tabs = Array.prototype.slice.call(bar.querySelectorAll(".stage-tab"));
  var phone = window.matchMedia("(max-width: 800px)");
  var KEY = "livehall:stage";

  function chatTabOf(tab) {
    var id = tab.getAttribute("data-chat-tab");
    return id ? document.getElementById(id) : null;
  }

  function shown() {
    return tabs.filter(function (t) { return !t.hidden; });
  }

  function current() {
    return bar.querySelector(".stage-tab[aria-selected=true]");
  }

  function select(tab, focus) {
    tabs.forEach(function (t) {
      var on = t === tab;
      t.setAttribute("aria-selected", on ? "true" : "false");
      t.tabIndex = on ? 0 : -1;
    });
    layout.setAttribute("data-tab", tab.getAttribute("data-tab"));
    if (focus) tab.focus();
    // Where the bar scrolls sideways (long names on a narrow phone), the chosen tab comes into view.
    if (tab.scrollIntoView && bar.scrollWidth > bar.clientWidth) tab.scrollIntoView({block: "nearest", inline: "nearest"});
    // On a wide screen the bar is not shown and the chat panel keeps its own choice.
    if (!phone.matches) return;
    var chatTab = chatTabOf(tab);
    if (chatTab) {
      if (chatTab.getAttribute("aria-selected") !== "true" || paneHidden(chatTab)) chatTab.click();
    } else if (chat) {
      // No chat pane in view: what arrives counts as unread on its tab.
      chat.querySelectorAll(".chat-pane").forEach(function (p) { p.hidden = true; });
    }
  }

  function paneHidden(chatTab) {
    var pane = document.getElementById(chatTab.getAttribute("aria-controls"));
    return !pane || pane.hidden;
  }

  var chosen = "chat";   // the viewer's choice, shown again when its tab comes back

  function choose(tab, focus) {
    chosen = tab.getAttribute("data-tab");
    select(tab, focus);
  }

  tabs.forEach(function (tab) {
    tab.addEventListener("click", function () { choose(tab, false); });
    // Arrow keys move between tabs (mirrored in right-to-left), Home/End jump.
    tab.addEventListener("keydown", function (ev) {
      var list = shown(), i = list.indexOf(tab), rtl = document.dir === "rtl", next = null;
      if (ev.key === "ArrowRight") next = list[(i + (rtl ? -1 : 1) + list.length) % list.length];
      else if (ev.key === "ArrowLeft") next = list[(i + (rtl ? 1 : -1) + list.length) % list.length];
      else if (ev.key === "Home") next = list[0];
      else if (ev.key === "End") next = list[list.length - 1];
      if (next) { ev.preventDefault(); choose(next, true); }
    });
  });

  // Chat tabs come and go (chat.js: a room joined or not, the panel hidden without chat); their
  // badges count what is unread. The stage tabs follow them.
  function mirror() {
    tabs.forEach(function (tab) {
      var chatTab = chatTabOf(tab);
      if (!chatTab) return;
      tab.hidden = chatTab.hidden || !chat || chat.hidden;
      var from = chatTab.querySelector(".chat-unread"), to = tab.querySelector(".chat-unread");
      if (from && to) {
        to.hidden = from.hidden;
        to.replaceChildren.apply(to, Array.prototype.map.call(from.childNodes, function (n) { return n.cloneNode(true); }));
      }
    });
    var want = tabs.filter(function (t) { return t.getAttribute("data-tab") === chosen && !t.hidden; })[0] || shown()[0];
    if (want && want !== current()) select(want, false);
  }

  if (chat) {
    new MutationObserver(mirror).observe(chat, {attributes: true, attributeFilter: ["hidden"], subtree: true,
                                                childList: true});
    // chat.js chose a tab itself (the first one that has a room): the bar follows while it shows the chat.
    chat.addEventListener("livehall:tab", function (ev) {
      var now = current();
      if (!now || !chatTabOf(now)) return;
      var kind = ev.detail && ev.detail.kind;
      tabs.forEach(function (t) {
        var chatTab = chatTabOf(t);
        if (chatTab && chatTab.getAttribute("data-kind") === kind && t !== now) {
          t.setAttribute("aria-selected", "true");
          t.tabIndex = 0;
          now.setAttribute("aria-selected", "false");
          now.tabIndex = -1;
          layout.setAttribute("data-tab", t.getAttribute("data-tab"));
        }
      });
    });
  }
  mirror();

  // Back to a wide screen: the chat panel shows its selected tab again; to a phone: what the bar says.
  phone.addEventListener("change", function () {
    if (phone.matches) {
      if (current()) select(current(), false);
    } else if (chat) {
      var selected = chat.querySelector(".chat-tab[aria-selected=true]");
      if (selected && paneHidden(selected)) selected.click();
    }
    if (L.placePlayer) L.placePlayer();
  });

  // ---- wide screens: swap and "slides large" --------------------------------

  var tools = document.querySelector(".stage-tools");
  var swap = document.getElementById("stage-swap");
  var large = document.getElementById("stage-large");
  var saved = {};
  try { saved = JSON.parse(window.localStorage.getItem(KEY) || "{}") || {}; } catch (e) { saved = {}; }

  function apply() {
    stage.classList.toggle("swapped", !!saved.swapped);
    stage.classList.toggle("large", !!saved.large);
    swap.setAttribute("aria-pressed", saved.swapped ? "true" : "false");
    large.setAttribute("aria-pressed", saved.large ? "true" : "false");
    if (L.placePlayer) L.placePlayer();
  }

  function toggle(name) {
    saved[name] = !saved[name];
    try { window.localStorage.setItem(KEY, JSON.stringify(saved)); } catch (e) { /* private mode: this visit only */ }
    apply();
  }

  if (tools && swap && large) {
    tools.hidden = false;
    swap.addEventListener("click", function () { toggle("swapped"); });
    large.addEventListener("click", function () { toggle("large"); });
    apply();
  }

  // ---- the slide full screen -------------------------------------------------

  var block = document.getElementById("slides");
  var full = block && block.querySelector(".slide-full");
  if (!full) return;
  full.hidden = false;
  var native = !!(document.fullscreenEnabled && block.requestFullscreen);

  function isOpen() {
    return document.fullscreenElement === block || block.classList.contains("overlay");
  }

  function update() {
    full.setAttribute("aria-pressed", isOpen() ? "true" : "false");
  }

  function close() {
    if (document.fullscreenElement === block) document.exitFullscreen().catch(function () {});
    block.classList.remove("overlay");
    update();
  }

  full.addEventListener("click", function () {
    if (isOpen()) { close(); return; }
    if (native) {
      block.requestFullscreen().catch(function () { block.classList.add("overlay"); update(); });
    } else {
      block.classList.add("overlay");
    }
    update();
  });
  document.addEventListener("fullscreenchange", update);
  document.addEventListener("keydown", function (ev) {
    if (ev.key === "Escape" && block.classList.contains("overlay")) { close(); full.focus(); }
  });
})();
