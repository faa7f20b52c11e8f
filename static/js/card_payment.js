// Card entry for one payment attempt, drawn by Stripe.js, and the outcome as the server knows it.
//
// Mounts on any <form data-card-payment> with data-publishable-key, data-client-secret
// (the attempt's PaymentIntent), data-status-url (the attempt's state, JSON), data-email and
// data-locale; messages come translated in data-msg-*.  On submit the browser confirms the
// PaymentIntent with Stripe (stripe.confirmCardPayment, which also runs 3-D Secure when the
// bank asks).  Whatever Stripe.js answers, the page then asks the server, whose state moves
// only on Stripe's signed notification, until it says paid or failed.  The form announces
// each outcome as a "card-payment" DOM event ({detail: {state}}) for the page that uses it
// (the checkout) to go on.
(function () {
  "use strict";

  function mount(form) {
    if (typeof window.Stripe !== "function") return;
    var stripe = window.Stripe(form.getAttribute("data-publishable-key"));
    var elements = stripe.elements({locale: form.getAttribute("data-locale") || "auto"});
    var card = elements.create("card");
    card.mount(form.querySelector(".card-element"));
    var message = form.querySelector(".card-payment-message");
    var button = form.querySelector("button[type=submit]");

    function say(text, failed) {
      message.textContent = text;
      message.classList.toggle("error-message", !!failed);
    }

    function announce(state) {
      form.setAttribute("data-outcome", state);
      form.dispatchEvent(new CustomEvent("card-payment", {bubbles: true, detail: {state: state}}));
    }

    function poll(deadline) {
      fetch(form.getAttribute("data-status-url"), {credentials: "same-origin", headers: {"Accept": "application/json"}})
        .then(function (r) { return r.json(); })
        .then(function (s) {
          var state = document.querySelector("[data-pay-state]");
          if (state) { state.textContent = s.label; state.setAttribute("data-pay-state", s.state); }
          if (s.paid) { say(form.getAttribute("data-msg-paid")); button.remove(); announce("paid"); return; }
          if (s.state === "failed" || s.state === "cancelled") {
            say(form.getAttribute("data-msg-failed"), true); button.disabled = false; announce(s.state); return;
          }
          if (Date.now() > deadline) { say(form.getAttribute("data-msg-slow")); announce("pending"); return; }
          setTimeout(function () { poll(deadline); }, 1000);
        })
        .catch(function () { setTimeout(function () { poll(deadline); }, 2000); });
    }

    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      button.disabled = true;
      say(form.getAttribute("data-msg-waiting"));
      var data = {payment_method: {card: card, billing_details: {email: form.getAttribute("data-email") || undefined}}};
      stripe.confirmCardPayment(form.getAttribute("data-client-secret"), data).then(function (result) {
        if (result && result.error) {
          say((result.error && result.error.message) || form.getAttribute("data-msg-failed"), true);
          button.disabled = false;
          announce("error");
          return;
        }
        poll(Date.now() + 60000);
      });
    });
  }

  document.querySelectorAll("form[data-card-payment]").forEach(mount);
})();
