// Draws the figures whose data the page embeds as JSON (Plotly is served by ShareFab itself).
(function () {
  var holder = document.getElementById("chart-data");
  if (!holder || typeof Plotly === "undefined") { return; }
  var charts = JSON.parse(holder.textContent);
  Object.keys(charts).forEach(function (id) {
    var el = document.getElementById(id);
    if (el) {
      Plotly.newPlot(el, charts[id].data, charts[id].layout, { responsive: true, displaylogo: false });
    }
  });
})();
