/* Draws the charts of a page with ECharts (vendored). Each chart is an element
   <div class="chart" data-chart="ID"> next to <script type="application/json" id="ID">
   {"kind": "bar" | "line", "labels": [...], "series": [{"name": "...", "values": [...]}],
    "stacked": false, "unit": ""}</script>. The same figures are always in a table on the
   page, for screen readers and for browsers without JavaScript; the chart is hidden from
   assistive technology. */
(function () {
  "use strict";
  function draw(element) {
    if (!window.echarts || element.getAttribute("data-drawn")) { return; }
    var source = document.getElementById(element.getAttribute("data-chart"));
    if (!source) { return; }
    var spec = JSON.parse(source.textContent);
    element.setAttribute("data-drawn", "1");
    element.setAttribute("aria-hidden", "true");
    var chart = window.echarts.init(element, null, { renderer: "canvas" });
    chart.setOption({
      animation: false,
      tooltip: { trigger: "axis" },
      legend: { top: 0 },
      grid: { left: 8, right: 8, bottom: 8, top: 32, containLabel: true },
      xAxis: { type: "category", data: spec.labels, axisLabel: { interval: 0, rotate: spec.labels.length > 8 ? 45 : 0 } },
      yAxis: { type: "value", name: spec.unit || "" },
      series: spec.series.map(function (s) {
        return { name: s.name, type: spec.kind || "bar", data: s.values, stack: spec.stacked ? "total" : undefined };
      })
    });
    window.addEventListener("resize", function () { chart.resize(); });
  }
  function drawAll() {
    var charts = document.querySelectorAll("[data-chart]");
    for (var i = 0; i < charts.length; i++) { draw(charts[i]); }
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", drawAll);
  } else {
    drawAll();
  }
  document.addEventListener("htmx:afterSettle", drawAll);
})();
