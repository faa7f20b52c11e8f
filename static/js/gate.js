// The countdown page (public/countdown.html) waits for the gate live.
//
// It opens the event's WebSocket like the event page does; the server
// accepts a member whose gate is still closed in a waiting mode
// (docs/protocol.md, "Waiting for the gate"): `welcome`, then `state` frames
// that carry only the gate, broadcast and day flags. As soon as a state says
// the gate is open, the page loads the event page (the same address). Ten
// thousand people may wait here: each waits a random moment of up to a second
// first, so their loads are spread instead of arriving in the same
// millisecond. A changed official start loads the page again too (it shows
// the start written the reader's way), spread over a few seconds.
(function () {
  "use strict";
  var root = document.getElementById("gate");
  var L = window.Livehall;
  if (!root || !L || !L.LiveClient || !window.WebSocket) return;
  var rendered = root.getAttribute("data-official-start") || null;
  var going = false;

  function load(spread) {
    if (going) return;
    going = true;
    setTimeout(function () { window.location.reload(); }, Math.random() * spread);
  }

  L.gateClient = new L.LiveClient(root.getAttribute("data-event-id"), {
    state: function (s) {
      var gate = s.gate || {};
      if (gate.open) load(1000);
      else if ((gate.official_start || null) !== rendered) load(5000);
    }
  }, {rooms: false});
})();
