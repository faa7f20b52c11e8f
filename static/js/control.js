// Live control page: the arrow keys (and the Page Up / Page Down keys that
// presentation clickers send) flip slides by submitting the same forms as
// the Previous / Next buttons.  Keys typed into a field are left alone, and
// only one flip is sent per page load so a held key cannot queue dozens.
(function () {
  "use strict";
  var prev = document.getElementById("slide-prev-form");
  var next = document.getElementById("slide-next-form");
  if (!prev || !next) return;
  var sent = false;
  document.addEventListener("keydown", function (ev) {
    if (sent || ev.defaultPrevented || ev.altKey || ev.ctrlKey || ev.metaKey || ev.shiftKey) return;
    var t = ev.target;
    if (t && (t.isContentEditable || /^(INPUT|SELECT|TEXTAREA)$/.test(t.tagName))) return;
    var form = null;
    if (ev.key === "ArrowRight" || ev.key === "PageDown") form = next;
    else if (ev.key === "ArrowLeft" || ev.key === "PageUp") form = prev;
    if (!form) return;
    ev.preventDefault();
    sent = true;
    form.submit();
  });
})();
