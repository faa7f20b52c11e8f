/* The staff schedule calendar: drag a session to another quarter hour or column to move it.

   The page is a server-rendered table (every session with its edit link), so
   it works without this script and by keyboard.  Here each cell becomes a
   SortableJS list; a drop sends {item, day_id, starts, column, by} as JSON to
   the move endpoint with the XSRF token in a header, and the server saves it
   through the same validated action as the edit form.  A refusal puts the
   session back and says why. */
(function () {
  "use strict";
  var root = document.getElementById("calendar");
  if (!root || typeof window.Sortable === "undefined") return;
  var status = document.querySelector(".calendar-status");

  function say(text) { if (status) status.textContent = text; }

  function putBack(evt) {
    var ref = evt.from.children[evt.oldIndex] || null;
    evt.from.insertBefore(evt.item, ref);
  }

  function moved(evt) {
    var slot = evt.to;
    slot.classList.add("calendar-saving");
    fetch(root.dataset.moveUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json",
                 "X-XSRFToken": root.dataset.xsrf },
      body: JSON.stringify({ item: evt.item.dataset.itemId, day_id: slot.dataset.dayId,
                             starts: slot.dataset.starts, column: slot.dataset.column, by: root.dataset.by })
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (body) {
        if (!response.ok) throw new Error(body.message || root.dataset.error);
        var when = evt.item.querySelector(".calendar-when");
        if (when && body.item) when.textContent = body.item.starts + (body.item.ends ? "\u2013" + body.item.ends : "");
        evt.item.dataset.saved = "1";
        say(body.message || root.dataset.saved);
      });
    }).catch(function (err) {
      putBack(evt);
      say(err.message || root.dataset.error);
    }).then(function () { slot.classList.remove("calendar-saving"); });
  }

  root.querySelectorAll(".calendar-slot").forEach(function (slot) {
    window.Sortable.create(slot, {
      group: "sessions", draggable: ".calendar-session", forceFallback: true,
      fallbackOnBody: true, emptyInsertThreshold: 12, animation: 0,
      onAdd: moved,
      onUpdate: function () { /* order within a cell means nothing */ }
    });
  });
})();
