// Copy buttons: a button with data-copy="<id>" copies that field's text (a snippet, an address) to the
// clipboard and says so in its status line; where the clipboard is not offered it selects the text, for
// the reader to copy by hand. Without scripts the buttons stay hidden and the text is there to select.
(function () {
  "use strict";
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    var field = document.getElementById(button.getAttribute("data-copy"));
    var status = document.getElementById(button.getAttribute("data-copy") + "-status");
    if (!field) return;
    button.hidden = false;
    button.addEventListener("click", function () {
      function done(ok) {
        if (status) status.textContent = ok ? button.getAttribute("data-copied") : button.getAttribute("data-select");
      }
      field.select();
      if (navigator.clipboard && navigator.clipboard.writeText) {
        navigator.clipboard.writeText(field.value).then(function () { done(true); }, function () { done(false); });
      } else {
        done(false);
      }
    });
  });
})();
