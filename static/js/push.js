// The campaign page's "Turn on notifications": asks the browser's permission only on that click, then
// registers the service worker (/push-worker.js), subscribes with the server's VAPID key and sends the
// subscription to /push/subscriptions (docs/http.md "Web Push").  Hidden where the browser has no push.
(function () {
  "use strict";

  function b64ToBytes(text) {
    var padded = (text + "===".slice((text.length + 3) % 4)).replace(/-/g, "+").replace(/_/g, "/");
    var raw = atob(padded), out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
    return out;
  }

  function send(box, method, body) {
    return fetch("/push/subscriptions", {
      method: method, credentials: "same-origin", body: JSON.stringify(body),
      headers: {"Content-Type": "application/json", "Accept": "application/json",
                "X-XSRFToken": box.getAttribute("data-xsrf")}
    }).then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); });
  }

  function setup(box) {
    var on = box.querySelector(".push-subscribe"), off = box.querySelector(".push-unsubscribe");
    var status = box.querySelector(".push-status");
    var space = box.getAttribute("data-push-space");

    function show(subscribed, message) {
      on.hidden = subscribed;
      off.hidden = !subscribed;
      status.textContent = message || "";
    }

    function registration() {
      return navigator.serviceWorker.register("/push-worker.js", {scope: "/"})
        .then(function () { return navigator.serviceWorker.ready; });
    }

    on.addEventListener("click", function () {
      on.disabled = true;
      Notification.requestPermission().then(function (answer) {
        if (answer !== "granted") { show(false, box.getAttribute("data-denied")); return null; }
        return Promise.all([registration(), fetch("/push/key").then(function (r) { return r.json(); })])
          .then(function (both) {
            return both[0].pushManager.subscribe({userVisibleOnly: true, applicationServerKey: b64ToBytes(both[1].key)});
          })
          .then(function (subscription) {
            return send(box, "POST", {space: space, gift: box.getAttribute("data-push-gift") || null,
                                      subscription: subscription.toJSON()});
          })
          .then(function () { show(true, box.getAttribute("data-done")); });
      }).catch(function () { show(false, box.getAttribute("data-failed")); })
        .then(function () { on.disabled = false; });
    });

    off.addEventListener("click", function () {
      off.disabled = true;
      navigator.serviceWorker.getRegistration("/").then(function (reg) {
        return reg ? reg.pushManager.getSubscription() : null;
      }).then(function (subscription) {
        if (!subscription) return null;
        return send(box, "DELETE", {space: space, endpoint: subscription.endpoint});
      }).then(function () { show(false, box.getAttribute("data-off")); })
        .catch(function () { show(true, box.getAttribute("data-failed")); })
        .then(function () { off.disabled = false; });
    });

    box.hidden = false;
    // Already subscribed in this browser (to some space): offer to turn it off here.
    navigator.serviceWorker.getRegistration("/").then(function (reg) {
      return reg ? reg.pushManager.getSubscription() : null;
    }).then(function (subscription) { if (subscription && Notification.permission === "granted") show(true); })
      .catch(function () {});
  }

  if (!("serviceWorker" in navigator) || !("PushManager" in window) || !("Notification" in window)) return;
  var boxes = document.querySelectorAll("[data-push-space]");
  for (var i = 0; i < boxes.length; i++) setup(boxes[i]);
})();
