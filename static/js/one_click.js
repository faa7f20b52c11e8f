// One-click giving with a saved card: an amount chip opens a small dialog (no cart, no new page) that
// posts the campaign's gift form with method "saved" and follows the payment until the server says paid.
//
// Each opening of the dialog makes a new client key, so a double click or a retried request gives once
// (the server keeps one gift per key) while a second gift later is a new one.  The gift counts when the
// provider's notification confirms it; the page's totals then climb through campaign.js.
(function () {
  "use strict";

  var box = document.querySelector("[data-one-click]");
  var dialog = document.querySelector(".one-click-dialog");
  if (!box || !dialog || typeof dialog.showModal !== "function") return;
  var form = dialog.querySelector("form");
  var message = form.querySelector(".one-click-message");
  var submit = form.querySelector(".one-click-submit");
  var busy = false;

  function newKey() {
    var bytes = new Uint8Array(18);
    window.crypto.getRandomValues(bytes);
    var text = "";
    for (var i = 0; i < bytes.length; i++) text += String.fromCharCode(bytes[i]);
    return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function say(text, failed) {
    message.textContent = text || "";
    message.classList.toggle("error-message", !!failed);
  }

  function done(text, failed) {
    busy = false;
    say(text, failed);
    submit.disabled = false;
    dialog.setAttribute("data-outcome", failed ? "failed" : "paid");
    if (!failed) submit.hidden = true;
  }

  function follow(url, deadline) {
    fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) { return r.json(); })
      .then(function (s) {
        if (s.paid) { done(form.getAttribute("data-msg-paid")); return; }
        if (s.state === "failed" || s.state === "cancelled") { done(form.getAttribute("data-msg-failed"), true); return; }
        if (Date.now() > deadline) { done(form.getAttribute("data-msg-slow")); return; }
        setTimeout(function () { follow(url, deadline); }, 700);
      })
      .catch(function () { setTimeout(function () { follow(url, deadline); }, 1500); });
  }

  box.querySelectorAll(".one-click-chip").forEach(function (chip) {
    chip.addEventListener("click", function () {
      form.elements.key.value = newKey();
      form.elements.amount.value = chip.getAttribute("data-amount");
      submit.hidden = false;
      submit.disabled = false;
      dialog.removeAttribute("data-outcome");
      say("");
      dialog.showModal();
      submit.focus();
    });
  });

  dialog.querySelector(".one-click-close").addEventListener("click", function () { dialog.close(); });

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    if (busy) return;
    busy = true;
    submit.disabled = true;
    say(form.getAttribute("data-msg-waiting"));
    fetch(form.getAttribute("action"), {method: "POST", body: new FormData(form), credentials: "same-origin",
                                        headers: {"Accept": "application/json"}})
      .then(function (r) { return r.json(); })
      .then(function (answer) {
        if (answer.message) { done(answer.message, !answer.gift || answer.payment === "failed"); return; }
        if (answer.state === "confirmed") { done(form.getAttribute("data-msg-paid")); return; }
        if (answer.status_url) { follow(answer.status_url, Date.now() + 60000); return; }
        done(form.getAttribute("data-msg-slow"));
      })
      .catch(function () { done(form.getAttribute("data-msg-failed"), true); });
  });
})();
