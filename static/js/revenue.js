// Revenue per day as a bar chart (admin/revenue.html), one chart per currency,
// drawn with uPlot (static/vendor/uPlot.iife.min.js, from npm). The numbers
// come from the page itself (data-series: Unix seconds of each day and amounts
// in minor units), and the table under the charts holds the same numbers
// exactly: it is the chart's text alternative and the page without scripts.
(function () {
  "use strict";
  var plots = document.querySelectorAll(".revenue-plot[data-series]");
  if (!plots.length || !window.uPlot || !window.Intl) return;
  var HEIGHT = 260;
  var drawn = [];

  plots.forEach(function (el) {
    var s = JSON.parse(el.getAttribute("data-series"));
    var locale = el.getAttribute("data-locale") || "en";
    var unit = Math.pow(10, s.exponent);
    var money = new Intl.NumberFormat(locale, {style: "currency", currency: s.currency});
    var rounded = new Intl.NumberFormat(locale, {style: "currency", currency: s.currency, maximumFractionDigits: 0});
    // The days are the event's, sent as UTC midnights: shown in UTC they keep their date.
    var day = new Intl.DateTimeFormat(locale, {day: "numeric", month: "short", timeZone: "UTC"});
    function date(v) { return v == null ? "" : day.format(new Date(v * 1000)); }
    var opts = {
      width: Math.max(280, el.clientWidth), height: HEIGHT,
      tzDate: function (ts) { return window.uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"); },
      // Half a day of room on each side, so the first and last bars are whole.
      scales: {x: {time: true, range: function (u, min, max) { return [min - 43200, max + 43200]; }}},
      legend: {show: true},
      cursor: {points: {show: false}},
      series: [
        {label: el.getAttribute("data-day-label"), value: function (u, v) { return date(v); }},
        {label: el.getAttribute("data-label"), stroke: "#1f5fbf", fill: "rgba(31, 95, 191, 0.35)", width: 1,
         paths: window.uPlot.paths.bars({size: [0.7, 48]}), points: {show: false},
         value: function (u, v) { return v == null ? "" : money.format(v); }}
      ],
      axes: [
        // Ticks on whole days only (a day is the smallest thing counted).
        {incrs: [86400, 2 * 86400, 7 * 86400, 14 * 86400, 28 * 86400, 91 * 86400],
         values: function (u, splits) { return splits.map(date); }},
        {size: 110, values: function (u, splits) { return splits.map(function (v) { return rounded.format(v); }); }}
      ]
    };
    var ys = s.y.map(function (v) { return v / unit; });
    drawn.push({el: el, plot: new window.uPlot(opts, [s.x, ys], el)});
  });

  var pending = null;
  window.addEventListener("resize", function () {
    if (pending) return;
    pending = setTimeout(function () {
      pending = null;
      drawn.forEach(function (d) { d.plot.setSize({width: Math.max(280, d.el.clientWidth), height: HEIGHT}); });
    }, 150);
  });
})();
