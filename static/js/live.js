// Livehall live client: one WebSocket per page, speaking protocol v1
// (docs/protocol.md). It reconnects with backoff, resumes every room by
// epoch/offset, applies only newer states, and re-sends unacknowledged chat
// messages with their original client_id so nothing is posted twice.
(function () {
  "use strict";

  // options.rooms === false: do not join the rooms `welcome` names (a page
  // that only follows the event state and presence, like live control).
  function LiveClient(eventId, handlers, options) {
    this.eventId = eventId;
    this.h = handlers || {};
    this.joinRooms = !(options && options.rooms === false);
    this.stateVersion = -1;
    this.rooms = {};        // room -> {epoch, offset}
    this.pending = {};      // client_id -> {room, text}
    this.unacked = {};      // client_id -> a frame outside rooms (ask) to send again until its ack
    this.attempt = 0;
    this.stopped = false;
    this.ws = null;
    this.connect();
  }

  LiveClient.prototype.emit = function (name, arg) {
    if (typeof this.h[name] === "function") this.h[name](arg, this);
  };

  LiveClient.prototype.connect = function () {
    var self = this;
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    var ws = new WebSocket(scheme + window.location.host + "/ws?event=" + encodeURIComponent(this.eventId));
    this.ws = ws;
    ws.onopen = function () { self.attempt = 0; self.emit("status", "online"); };
    ws.onmessage = function (ev) {
      var msg;
      try { msg = JSON.parse(ev.data); } catch (e) { return; }
      self.receive(msg);
    };
    ws.onclose = function (ev) {
      self.ws = null;
      if (ev.code === 4001 || self.stopped) { self.emit("status", "stopped"); return; }
      // 4004: this person's access to the event changed (a ticket passed on, a registration ended):
      // the page is loaded again, and admits or refuses them as things are now.
      if (ev.code === 4004) { self.emit("status", "stopped"); window.location.reload(); return; }
      self.emit("status", "reconnecting");
      // Exponential backoff with jitter: 0.5 s doubling up to 30 s.
      var delay = Math.min(30000, 500 * Math.pow(2, self.attempt++)) * (0.5 + Math.random() / 2);
      setTimeout(function () { self.connect(); }, delay);
    };
  };

  // Ends the connection for good, with no reconnect (the page is done with it).
  LiveClient.prototype.close = function () {
    this.stopped = true;
    if (this.ws) this.ws.close();
  };

  LiveClient.prototype.send = function (frame) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify(frame));
      return true;
    }
    return false;
  };

  LiveClient.prototype.join = function (room) {
    var at = this.rooms[room];
    var frame = {type: "join", room: room};
    if (at && at.epoch) { frame.epoch = at.epoch; frame.offset = at.offset; }
    this.send(frame);
  };

  LiveClient.prototype.say = function (room, text) {
    var id = "c" + Date.now().toString(36) + Math.random().toString(36).slice(2, 8);
    this.pending[id] = {room: room, text: text};
    this.send({type: "send", room: room, text: text, client_id: id, ref: id});
    return id;
  };

  // Questions (and other frames with a client_id that need no room): sent
  // now, and again after every reconnect until the ack or an error with this
  // ref arrives; the server answers a repeat with the stored result.
  LiveClient.prototype.sendUntilAcked = function (frame) {
    var id = frame.client_id;
    frame.ref = id;
    this.unacked[id] = frame;
    this.send(frame);
    return id;
  };

  LiveClient.prototype.forget = function (id) {
    delete this.pending[id];
    delete this.unacked[id];
  };

  LiveClient.prototype.receive = function (msg) {
    var self = this;
    switch (msg.type) {
      case "welcome":
        this.emit("welcome", msg);
        if (this.joinRooms) msg.rooms.forEach(function (room) { self.join(room); });
        Object.keys(this.unacked).forEach(function (id) { self.send(self.unacked[id]); });
        break;
      case "state":
        if (msg.state_version > this.stateVersion) {
          this.stateVersion = msg.state_version;
          this.emit("state", msg.state);
        }
        break;
      case "joined":
        if (msg.recovered === false || !this.rooms[msg.room]) {
          this.rooms[msg.room] = {epoch: msg.epoch, offset: msg.offset};
          this.emit("reset", msg.room);
          this.send({type: "history", room: msg.room, ref: "h:" + msg.room});
        } else {
          this.rooms[msg.room].epoch = msg.epoch;
        }
        // Messages sent while offline go out again; the server drops repeats.
        Object.keys(this.pending).forEach(function (id) {
          var p = self.pending[id];
          if (p.room === msg.room) self.send({type: "send", room: p.room, text: p.text, client_id: id, ref: id});
        });
        this.emit("joined", msg);
        break;
      case "messages":
        // A busy room's window of messages in one frame: each as its own.
        msg.items.forEach(function (item) { self.receive(item); });
        break;
      case "message":
        var at = this.rooms[msg.room];
        if (at && msg.offset > at.offset) at.offset = msg.offset;
        this.emit("message", msg);
        break;
      case "history":
        this.emit("history", msg);
        break;
      case "ack":
        if (msg.client_id) { delete this.pending[msg.client_id]; delete this.unacked[msg.client_id]; }
        this.emit("ack", msg);
        break;
      case "error":
        // A refused frame stays refused: it is not sent again.
        if (msg.ref != null) delete this.unacked[msg.ref];
        this.emit("error", msg);
        break;
      case "takeover":
        this.stopped = true;
        this.emit("takeover", msg);
        break;
      case "resync":
        // Live frames may have been lost between servers: reconnect and resume.
        if (this.ws) this.ws.close();
        break;
      default:
        this.emit(msg.type, msg);
    }
  };

  window.Livehall = window.Livehall || {};
  window.Livehall.LiveClient = LiveClient;
})();
