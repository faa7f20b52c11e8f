// The HLS broadcast player of the event page.
//
// An HLS source is a <video data-hls-src="…m3u8"> inside the `.player` box.
// Browsers that play HLS themselves (Safari, recent Chrome) get the playlist
// as the video's src; the others get hls.js, fetched at set-up time into
// /static/vendor/ (tools/browser_libs.py) and loaded here only when needed.
// When the stream cannot be played (the playlist or its segments fail, or the
// library does not load) a translated notice lies over the video and the
// player tries again with growing pauses, until it plays or is stopped.
//
// The box survives navigation (nav.js moves it into the dock), so each
// video's controller hangs on the element itself and this script, run again
// by nav.js on the next page, only picks up videos it has not seen.
// event.js calls Livehall.player.attach(video) for a video it creates from a
// `state` frame and Livehall.player.stop(box) before it empties the box.
//
// Heartbeat: while the video plays (paused, buffering or ended does not
// count; a hidden tab that plays does), the seconds played are added up and
// sent every 30 s (the box's data-heartbeat) over the page's live connection
// as {type: "watching", seconds: n}; the server credits minutes watched from
// them (docs/protocol.md, "Minutes watched"). Seconds that could not be sent
// (the connection was down) go with the next heartbeat.
(function () {
  "use strict";
  var L = window.Livehall = window.Livehall || {};
  if (L.player) { L.player.scan(); return; }

  var HLS_TYPE = "application/vnd.apple.mpegurl";
  var FIRST_RETRY = 2000, LAST_RETRY = 30000;  // ms, doubling in between
  var HEARTBEAT = 30;                           // seconds between heartbeats, unless the box says
  var library = null;                           // promise of window.Hls, once asked for

  function boxOf(video) {
    return video.closest(".player");
  }

  function text(video, key) {
    var box = boxOf(video);
    return (box && box.getAttribute("data-" + key)) || "";
  }

  function loadLibrary(src) {
    if (window.Hls) return Promise.resolve(window.Hls);
    if (library) return library;
    library = new Promise(function (resolve, reject) {
      var s = document.createElement("script");
      s.src = src;
      s.async = true;
      s.onload = function () { window.Hls ? resolve(window.Hls) : reject(new Error("no Hls")); };
      s.onerror = function () { s.remove(); reject(new Error("hls.js did not load")); };
      document.head.appendChild(s);
    });
    // A failed load may be tried again later (the server was restarting, say).
    library.catch(function () { library = null; });
    return library;
  }

  function Controller(video) {
    this.video = video;
    this.url = video.getAttribute("data-hls-src");
    this.hls = null;
    this.timer = null;
    this.attempt = 0;
    this.stopped = false;
    this.recovered = false; // one in-place recovery from a media error per attempt
    this.loading = false;   // hls.js fetches segments
    this.wantPlay = false;  // the viewer pressed play: a retry resumes playing
    this.played = 0;        // ms played and not yet sent in a heartbeat
    this.since = null;      // when the stretch playing now began (performance.now()), or null
    var self = this;
    this.onPlay = function () { self.wantPlay = true; self.begin(); };
    // Pauses that the teardown before a retry causes are not the viewer's.
    this.onPause = function () { if (!video.ended && !self.timer) self.wantPlay = false; };
    this.onPlaying = function () { self.attempt = 0; self.notice(null); self.playing(true); };
    this.onHeld = function () { self.playing(false); };
    this.onError = function () { if (self.native && video.error) self.failed(); };
    video.addEventListener("play", this.onPlay);
    video.addEventListener("pause", this.onPause);
    video.addEventListener("playing", this.onPlaying);
    video.addEventListener("error", this.onError);
    HELD.forEach(function (name) { video.addEventListener(name, self.onHeld); });
    var period = parseFloat(text(video, "heartbeat")) || HEARTBEAT;
    this.beat = setInterval(function () { self.heartbeat(); }, period * 1000);
    this.native = !!video.canPlayType(HLS_TYPE);
    this.start();
  }

  // Events after which the video is not playing (until its next "playing").
  var HELD = ["pause", "waiting", "ended", "emptied", "error"];

  // Adds the stretch that ends now to what was played; `on`: whether one begins now.
  Controller.prototype.playing = function (on) {
    var now = performance.now();
    if (this.since !== null) this.played += now - this.since;
    this.since = on && !this.video.paused ? now : null;
  };

  // Sends the whole seconds played since the last heartbeat, if any.
  Controller.prototype.heartbeat = function () {
    this.playing(this.since !== null);
    var seconds = Math.floor(this.played / 1000);
    var client = L.client;
    if (seconds < 1 || !client || !client.send) return;
    if (client.send({type: "watching", seconds: seconds})) this.played -= seconds * 1000;
  };

  Controller.prototype.begin = function () {
    if (!this.hls || this.loading || !this.parsed) return;
    this.loading = true;
    this.hls.startLoad(-1);
  };

  Controller.prototype.start = function () {
    var self = this, video = this.video;
    if (this.stopped) return;
    if (this.native) {
      video.src = this.url;
      if (this.wantPlay) video.play().catch(function () {});
      return;
    }
    if (!window.MediaSource && !window.ManagedMediaSource) { this.notice("unsupported"); return; }
    loadLibrary(text(video, "hls-lib")).then(function (Hls) {
      if (self.stopped || self.hls) return;
      if (!Hls.isSupported()) { self.notice("unsupported"); return; }
      // Segments are fetched once the viewer presses play; the playlist at
      // once, so a broadcast that cannot be reached says so straight away.
      var hls = self.hls = new Hls({autoStartLoad: false});
      self.loading = self.parsed = false;
      hls.on(Hls.Events.MANIFEST_PARSED, function () {
        self.parsed = true;
        self.notice(null);
        if (self.wantPlay) { self.begin(); video.play().catch(function () {}); }
      });
      hls.on(Hls.Events.FRAG_BUFFERED, function () { self.attempt = 0; self.notice(null); });
      hls.on(Hls.Events.ERROR, function (_e, data) {
        if (!data.fatal || self.hls !== hls) return;
        // A decoding hiccup is worth one recovery in place before starting over.
        if (data.type === Hls.ErrorTypes.MEDIA_ERROR && !self.recovered) {
          self.recovered = true;
          hls.recoverMediaError();
          return;
        }
        self.failed();
      });
      hls.attachMedia(video);
      hls.loadSource(self.url);
    }, function () {
      self.failed();
    });
  };

  Controller.prototype.failed = function () {
    var self = this;
    if (this.stopped) return;
    this.teardown();
    this.notice("error");
    var delay = Math.min(LAST_RETRY, FIRST_RETRY * Math.pow(2, this.attempt++)) * (0.75 + Math.random() / 4);
    this.timer = setTimeout(function () {
      self.timer = null;
      self.recovered = false;
      self.start();
    }, delay);
  };

  Controller.prototype.teardown = function () {
    clearTimeout(this.timer);
    this.timer = null;
    if (this.hls) { this.hls.destroy(); this.hls = null; }
    if (this.native) {
      this.video.removeAttribute("src");
      this.video.load();
    }
  };

  Controller.prototype.stop = function () {
    // What played since the last heartbeat is sent now: the player goes away.
    this.heartbeat();
    clearInterval(this.beat);
    this.since = null;
    this.stopped = true;
    this.teardown();
    var v = this.video, self = this;
    v.removeEventListener("play", this.onPlay);
    v.removeEventListener("pause", this.onPause);
    v.removeEventListener("playing", this.onPlaying);
    v.removeEventListener("error", this.onError);
    HELD.forEach(function (name) { v.removeEventListener(name, self.onHeld); });
    delete v.livehallPlayer;
    this.notice(null);
  };

  // One notice over the video, or none.
  Controller.prototype.notice = function (key) {
    var box = boxOf(this.video);
    if (!box) return;
    var p = box.querySelector(".player-notice");
    if (!key) { if (p) p.remove(); return; }
    if (!p) {
      p = document.createElement("p");
      p.className = "player-notice";
      p.setAttribute("role", "status");
      box.appendChild(p);
    }
    p.setAttribute("data-kind", key);
    p.textContent = text(this.video, key);
  };

  function attach(video) {
    if (!video || video.livehallPlayer || !video.getAttribute("data-hls-src")) return;
    video.livehallPlayer = new Controller(video);
  }

  function stop(box) {
    if (!box) return;
    box.querySelectorAll("video").forEach(function (v) { if (v.livehallPlayer) v.livehallPlayer.stop(); });
  }

  function scan() {
    var box = (L.playerBox && L.playerBox()) || document.querySelector("#player .player");
    if (box) box.querySelectorAll("video[data-hls-src]").forEach(attach);
  }

  L.player = {attach: attach, stop: stop, scan: scan};
  scan();
})();
