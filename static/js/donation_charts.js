// Donation analytics (admin/donation_analytics.html): one bar chart per view and currency, drawn
// with uPlot (static/vendor/uPlot.iife.min.js, from npm). The numbers come from the page itself
// (data-series: amounts in minor units and gifts, per hour or day as Unix seconds of UTC times, or
// per labelled key); the table under each chart holds the same numbers and is its text alternative.
(function () {
  "use strict";
  var plots = document.querySelectorAll(".donation-plot[data-series]");
  if (!plots.length || !window.uPlot || !window.Intl) return;
  var HEIGHT = 240;
  var drawn = [];

  plots.forEach(function (el) {
    var s = JSON.parse(el.getAttribute("data-series"));
    var locale = el.getAttribute("data-locale") || "en";
    var unit = Math.pow(10, s.exponent);
    var money = new Intl.NumberFormat(locale, {style: "currency", currency: s.currency});
    var rounded = new Intl.NumberFormat(locale, {style: "currency", currency: s.currency, maximumFractionDigits: 0});
    var count = new Intl.NumberFormat(locale, {maximumFractionDigits: 0});
    var timed = Array.isArray(s.x);
    var hourly = s.view === "hour";
    var when = new Intl.DateTimeFormat(locale, hourly ? {day: "numeric", month: "short", hour: "2-digit", minute: "2-digit", timeZone: "UTC"}
                                                      : {day: "numeric", month: "short", timeZone: "UTC"});
    var xs = timed ? s.x : s.labels.map(function (_, i) { return i; });
    var step = hourly ? 3600 : 86400;
    function xLabel(v) {
      if (v == null) return "";
      if (timed) return when.format(new Date(v * 1000));
      var i = Math.round(v);
      return i === v && s.labels[i] != null ? s.labels[i] : "";
    }
    var opts = {
      width: Math.max(280, el.clientWidth), height: HEIGHT,
      scales: {
        x: timed ? {time: true, range: function (u, min, max) { return [min - step / 2, max + step / 2]; }}
                 : {time: false, range: function (u, min, max) { return [min - 0.5, max + 0.5]; }},
        gifts: {range: function (u, min, max) { return [0, Math.max(1, max)]; }}
      },
      legend: {show: true},
      cursor: {points: {show: false}},
      series: [
        {label: "", value: function (u, v) { return xLabel(v); }},
        {label: el.getAttribute("data-amount-label"), stroke: "#1f5fbf", fill: "rgba(31, 95, 191, 0.35)", width: 1,
         paths: window.uPlot.paths.bars({size: [0.7, 48]}), points: {show: false},
         value: function (u, v) { return v == null ? "" : money.format(v); }},
        {label: el.getAttribute("data-gifts-label"), scale: "gifts", stroke: "#b5520b", width: 2,
         points: {show: !timed}, value: function (u, v) { return v == null ? "" : count.format(v); }}
      ],
      axes: [
        timed ? {values: function (u, splits) { return splits.map(xLabel); }}
              : {splits: function () { return xs; }, values: function (u, splits) { return splits.map(xLabel); }},
        {size: 90, values: function (u, splits) { return splits.map(function (v) { return rounded.format(v); }); }},
        {scale: "gifts", side: 1, grid: {show: false},
         values: function (u, splits) { return splits.map(function (v) { return v % 1 === 0 ? count.format(v) : ""; }); }}
      ]
    };
    var amounts = s.amounts.map(function (v) { return v / unit; });
    drawn.push({el: el, plot: new window.uPlot(opts, [xs, amounts, s.gifts], el)});
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
