// A donor segment's form: its size, counted by the server (/admin/spaces/<space>/segments/preview),
// shown again a moment after each change of a criterion.
(function () {
  "use strict";

  function setup(form) {
    var out = form.querySelector(".segment-size");
    var url = form.getAttribute("data-segment-preview");
    var timer = null, asked = 0;

    function ask() {
      var params = new URLSearchParams(new FormData(form));
      params.delete("_xsrf");
      var mine = ++asked;
      fetch(url + "?" + params.toString(), {credentials: "same-origin", headers: {"Accept": "application/json"}})
        .then(function (r) { return r.json(); })
        .then(function (data) {
          if (mine !== asked) return;  // an older answer arriving late
          out.textContent = data.text || data.message || "";
        })
        .catch(function () {});
    }

    function later() {
      clearTimeout(timer);
      timer = setTimeout(ask, 300);
    }

    form.addEventListener("input", later);
    form.addEventListener("change", later);
    ask();
  }

  document.querySelectorAll("form[data-segment-preview]").forEach(setup);
})();
