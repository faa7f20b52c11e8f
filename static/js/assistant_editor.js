// The giving assistant's editor (templates/admin/assistant.html): the answers of a question are
// reordered by dragging them (SortableJS, from npm). A drop renumbers the answers' position fields,
// which the server orders them by when the form is saved; without JavaScript staff type the positions.
(function () {
  "use strict";
  if (!window.Sortable) return;
  document.querySelectorAll(".assistant-buttons").forEach(function (list) {
    list.classList.add("is-sortable");
    window.Sortable.create(list, {
      handle: ".drag-handle",
      animation: 150,
      forceFallback: true,
      onEnd: function () {
        list.querySelectorAll(".assistant-position").forEach(function (input, i) { input.value = String(i); });
      }
    });
  });
})();
