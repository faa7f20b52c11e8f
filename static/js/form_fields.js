// Conditional fields of an organiser-built form (templates/public/form_fields.html), live.
//
// A field with `data-condition` ({"field": id, "values": [...]}) is shown
// only while that earlier field is shown and one of its checked answers is
// among the values, the rule `registration/forms.py` applies on the server.
// A hidden field's inputs are disabled, so the browser neither requires them
// nor sends them; the server drops such an answer anyway and decides in the
// end.  Without this script every field is shown, each conditional one with
// a note saying when to answer it.  A file larger than the field allows is
// flagged before it is sent.  A form sent back with errors puts the focus on
// the first answer to fix, whose error message the field's description reads
// out, so a keyboard or screen reader user starts where the work is.
(function () {
  "use strict";
  var L = window.Livehall = window.Livehall || {};

  function chosen(box, id) {
    var out = [];
    box.querySelectorAll("[data-field='" + id + "'] input[name='" + id + "']").forEach(function (input) {
      if (input.checked && !input.disabled) out.push(input.value);
    });
    return out;
  }

  function update(box) {
    box.querySelectorAll(".ff[data-field]").forEach(function (wrapper) {
      var raw = wrapper.getAttribute("data-condition");
      if (!raw) return;
      var cond;
      try { cond = JSON.parse(raw); } catch (e) { return; }
      var target = box.querySelector(".ff[data-field='" + cond.field + "']");
      var shown = !!target && !target.hidden && chosen(box, cond.field).some(function (v) {
        return cond.values.indexOf(v) >= 0;
      });
      wrapper.hidden = !shown;
      wrapper.querySelectorAll("input, select, textarea").forEach(function (input) { input.disabled = !shown; });
    });
  }

  function checkSize(input) {
    var limit = parseInt(input.getAttribute("data-max-bytes"), 10);
    var file = input.files && input.files[0];
    input.setCustomValidity(file && limit && file.size > limit ? (input.getAttribute("data-too-large") || "") ||
                            " " : "");
  }

  function focusFirstError(box) {
    var active = document.activeElement;
    if (active && active !== document.body) return;   // the person is somewhere already
    var input = box.querySelector(".ff.has-error:not([hidden]) [aria-invalid='true']:not([disabled])");
    if (input) input.focus();
  }

  function init() {
    document.querySelectorAll("[data-form-fields]").forEach(function (box) {
      if (box.hasAttribute("data-form-ready")) return;
      box.setAttribute("data-form-ready", "");
      box.classList.add("form-fields-live");
      box.addEventListener("change", function (e) {
        if (e.target.matches("input[type=file][data-max-bytes]")) checkSize(e.target);
        update(box);
      });
      update(box);
      focusFirstError(box);
    });
  }

  // Pages swapped in by static/js/nav.js run this file again: set up once, then on every page load.
  if (L.formFieldsInit) { L.formFieldsInit(); return; }
  L.formFieldsInit = init;
  document.addEventListener("livehall:load", init);
  init();
})();
