// Draws every chart on the page from its Plotly figure JSON (rendered by the server into a
// <script type="application/json"> next to it). plotly.min.js comes from the plotly package.
(function () {
  "use strict";
  document.querySelectorAll("[data-figure]").forEach(function (el) {
    var source = document.getElementById(el.dataset.figure);
    if (!source || !window.Plotly) return;
    var fig = JSON.parse(source.textContent);
    window.Plotly.newPlot(el, fig.data, fig.layout, {displaylogo: false, responsive: true}).then(function () {
      el.dataset.drawn = "1";
    });
  });
  var period = document.getElementById("f-period");
  if (period) {
    period.addEventListener("change", function () {
      if (period.value !== "custom") period.form.requestSubmit();
    });
  }
})();
