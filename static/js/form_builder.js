// The form builder (templates/admin/registration_form.html): drag and drop ordering with SortableJS,
// and an editor that shows only the settings of the chosen field type.
//
// Dropping a field submits the new order through the same form as the
// up/down buttons, with the version the page was made from, so the server
// saves it (or says the form changed meanwhile).  Without JavaScript, or
// without SortableJS, the buttons do the same one step at a time, and the
// editor shows every section, each saying which type it is for.
(function () {
  "use strict";

  function sortable() {
    var list = document.getElementById("form-fields");
    var form = document.getElementById("form-order");
    if (!list || !form || !window.Sortable || list.hasAttribute("data-sortable-ready")) return;
    list.setAttribute("data-sortable-ready", "");
    list.classList.add("is-sortable");
    window.Sortable.create(list, {
      handle: ".drag-handle",
      animation: 150,
      forceFallback: true,
      onEnd: function (e) {
        if (e.oldIndex === e.newIndex) return;
        var ids = Array.prototype.map.call(list.querySelectorAll("li[data-id]"), function (li) {
          return li.getAttribute("data-id");
        });
        document.getElementById("form-order-ids").value = ids.join(",");
        document.getElementById("form-order-op").disabled = false;
        form.submit();
      }
    });
  }

  function editor() {
    var box = document.querySelector("[data-field-editor]");
    if (!box) return;
    var type = box.querySelector("select[name=type]");
    var cond = box.querySelector("select[name=cond_field]");
    function update() {
      box.querySelectorAll("[data-for]").forEach(function (section) {
        section.hidden = section.getAttribute("data-for").split(" ").indexOf(type.value) < 0;
      });
      box.querySelectorAll("[data-cond-for]").forEach(function (section) {
        section.hidden = !cond || section.getAttribute("data-cond-for") !== cond.value;
      });
    }
    type.addEventListener("change", update);
    if (cond) cond.addEventListener("change", update);
    update();
  }

  sortable();
  editor();
})();
