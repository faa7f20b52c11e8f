// Check-in at the door (admin/checkin.html): scan a ticket's QR code with the
// phone's camera, or read it from a photo, or type it; each code is posted as
// the form would be, asking for JSON, and the verdict is shown big: green
// admitted, amber already admitted (when, by whom), red refused (why), in
// words as well as colour, announced to screen readers, with an optional
// sound. Without this script the form posts and the page shows the same.
//
// QR codes are read by the browser's own BarcodeDetector where it has one
// (Chrome on Android) and by jsQR (static/vendor/jsQR.js, from npm) on a
// canvas elsewhere. The same code seen again within a few seconds is not
// posted again: a phone held over a ticket reads it many times a second.
(function () {
  "use strict";
  var root = document.getElementById("checkin");
  if (!root || !window.fetch || !window.FormData) return;
  var form = document.getElementById("checkin-form");
  var input = document.getElementById("checkin-code");
  var result = document.getElementById("checkin-result");
  var count = document.getElementById("checkin-count");
  var camera = document.getElementById("checkin-camera");
  var video = document.getElementById("checkin-video");
  var toggle = document.getElementById("checkin-camera-toggle");
  var extras = document.getElementById("checkin-extras");
  var photo = document.getElementById("checkin-photo");
  var sound = document.getElementById("checkin-sound");
  var OUTCOMES = ["admitted", "already", "refused"];
  var REPEAT_MS = 4000;

  var busy = false, lastCode = "", lastAt = 0;
  var stream = null, detector = null, canvas = null, timer = null;

  function text(el, value) { if (el) el.textContent = value || ""; }

  function show(data) {
    OUTCOMES.forEach(function (o) { result.classList.remove("checkin-" + o); });
    result.classList.add("checkin-" + data.outcome);
    text(result.querySelector(".checkin-verdict"), data.verdict);
    var message = result.querySelector(".checkin-message");
    text(message, data.message);
    message.classList.toggle("error-message", data.outcome === "refused");
    var who = result.querySelector(".checkin-who");
    who.textContent = "";
    if (data.holder) {
      var strong = document.createElement("strong");
      strong.className = "checkin-holder";
      strong.textContent = data.holder;
      var type = document.createElement("span");
      type.className = "checkin-type";
      type.textContent = data.type || "";
      who.appendChild(strong);
      who.appendChild(document.createTextNode(" · "));
      who.appendChild(type);
    }
    result.hidden = false;
    if (data.count_text) text(count, data.count_text);
    beep(data.outcome);
  }

  function problem(message) {
    show({outcome: "refused", verdict: "", message: message});
  }

  // A short tone per verdict, only when asked for (a door is often a quiet place).
  var audio = null;
  function beep(outcome) {
    if (!sound || !sound.checked) return;
    var Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) return;
    audio = audio || new Ctx();
    var osc = audio.createOscillator(), gain = audio.createGain();
    osc.frequency.value = outcome === "admitted" ? 880 : outcome === "already" ? 520 : 220;
    gain.gain.value = 0.2;
    osc.connect(gain);
    gain.connect(audio.destination);
    osc.start();
    osc.stop(audio.currentTime + (outcome === "admitted" ? 0.15 : 0.45));
  }

  function submit(code) {
    code = (code || "").trim();
    if (busy) return;
    busy = true;
    input.setAttribute("aria-busy", "true");
    var body = new FormData(form);
    body.set("code", code);
    fetch(form.action, {method: "POST", body: body, credentials: "same-origin",
                        headers: {"Accept": "application/json"}})
      .then(function (r) { return r.json(); })
      .then(function (data) {
        if (!data || OUTCOMES.indexOf(data.outcome) < 0) {
          problem(data && data.message);
          return;
        }
        show(data);
      })
      .catch(function () { problem(root.getAttribute("data-network-error")); })
      .then(function () {
        busy = false;
        input.removeAttribute("aria-busy");
        input.value = "";
        input.focus();
      });
  }

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    lastCode = input.value.trim();
    lastAt = Date.now();
    submit(input.value);
  });

  function seen(code) {
    if (!code || busy) return;
    var now = Date.now();
    if (code === lastCode && now - lastAt < REPEAT_MS) return;
    lastCode = code;
    lastAt = now;
    submit(code);
  }

  // ---- reading QR codes ---------------------------------------------------

  function decodeCanvas(source, width, height) {
    if (!window.jsQR || !width || !height) return "";
    canvas = canvas || document.createElement("canvas");
    // A phone's frame is large; a QR code is found as well at a width of 800.
    var scale = Math.min(1, 800 / width);
    canvas.width = Math.round(width * scale);
    canvas.height = Math.round(height * scale);
    var ctx = canvas.getContext("2d", {willReadFrequently: true});
    ctx.drawImage(source, 0, 0, canvas.width, canvas.height);
    var image = ctx.getImageData(0, 0, canvas.width, canvas.height);
    var found = window.jsQR(image.data, image.width, image.height, {inversionAttempts: "attemptBoth"});
    return found ? found.data : "";
  }

  function read(source, width, height) {
    if (detector) {
      return detector.detect(source).then(function (codes) {
        return codes.length ? codes[0].rawValue : "";
      }).catch(function () { return decodeCanvas(source, width, height); });
    }
    return Promise.resolve(decodeCanvas(source, width, height));
  }

  function prepareDetector() {
    if (!("BarcodeDetector" in window)) return Promise.resolve();
    return window.BarcodeDetector.getSupportedFormats().then(function (formats) {
      if (formats.indexOf("qr_code") >= 0) detector = new window.BarcodeDetector({formats: ["qr_code"]});
    }).catch(function () { detector = null; });
  }

  function scanFrame() {
    timer = null;
    if (!stream) return;
    var next = function () { if (stream) timer = setTimeout(scanFrame, 200); };
    if (busy || video.readyState < 2) { next(); return; }
    read(video, video.videoWidth, video.videoHeight).then(function (code) { seen(code); next(); }, next);
  }

  function stopCamera() {
    if (stream) stream.getTracks().forEach(function (t) { t.stop(); });
    stream = null;
    if (timer) clearTimeout(timer);
    timer = null;
    video.srcObject = null;
    video.hidden = true;
    toggle.textContent = root.getAttribute("data-camera-start");
    toggle.setAttribute("aria-pressed", "false");
  }

  function startCamera() {
    navigator.mediaDevices.getUserMedia({video: {facingMode: "environment"}, audio: false})
      .then(function (s) {
        stream = s;
        video.srcObject = s;
        video.hidden = false;
        toggle.textContent = root.getAttribute("data-camera-stop");
        toggle.setAttribute("aria-pressed", "true");
        return video.play();
      })
      .then(function () { if (stream && !timer) scanFrame(); })
      .catch(function () {
        stopCamera();
        problem(root.getAttribute("data-camera-error"));
      });
  }

  prepareDetector();
  if (navigator.mediaDevices && navigator.mediaDevices.getUserMedia) {
    camera.hidden = false;
    toggle.setAttribute("aria-pressed", "false");
    toggle.addEventListener("click", function () {
      if (stream) stopCamera(); else startCamera();
    });
  }
  extras.hidden = false;

  photo.addEventListener("change", function () {
    var file = photo.files && photo.files[0];
    if (!file || !window.createImageBitmap) return;
    window.createImageBitmap(file)
      .then(function (bitmap) { return read(bitmap, bitmap.width, bitmap.height); })
      .then(function (code) {
        photo.value = "";
        if (code) submit(code); else problem(root.getAttribute("data-photo-none"));
      })
      .catch(function () { photo.value = ""; problem(root.getAttribute("data-photo-none")); });
  });

  // Leaving the page (or the tab) lets the camera go.
  document.addEventListener("visibilitychange", function () { if (document.hidden) stopCamera(); });
  window.addEventListener("pagehide", stopCamera);
})();
