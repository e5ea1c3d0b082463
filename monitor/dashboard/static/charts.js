// The overview's charts: the bucket under the pointer (or chosen with the arrow keys) gets a
// band, a tooltip with its exact counts, and (where the chart has data-href) a click or Enter
// that opens that slice of the hits list.
// charts.py puts the values, labels and link prefix on each <svg>; one script for all charts
// instead of a link and a tooltip per bar keeps a week of hours small.
// Names come from the server escaped in attributes; they are shown with textContent only.
"use strict";
(function () {
  var tip = null;

  function two(n) { return (n < 10 ? "0" : "") + n; }
  // The hits list's 'from'/'to' form, as monitor/alerts/links.py writes it: minutes, UTC.
  function minute(ms) {
    var d = new Date(ms);
    return d.getUTCFullYear() + "-" + two(d.getUTCMonth() + 1) + "-" + two(d.getUTCDate()) +
      "T" + two(d.getUTCHours()) + ":" + two(d.getUTCMinutes());
  }

  function setUp(svg) {
    var d = svg.dataset;
    var names = d.series ? d.series.split("|") : [];
    var values = d.values ? d.values.split("|").map(function (v) { return v.split(",").map(Number); }) : [];
    var labels = d.labels ? d.labels.split("|") : [];
    var left = Number(d.left), slot = Number(d.slot), n = labels.length;
    var band = svg.querySelector("rect.band");

    function bucketAt(event) {
      var ctm = svg.getScreenCTM();
      if (!ctm) return -1;
      var point = svg.createSVGPoint();
      point.x = event.clientX; point.y = event.clientY;
      var x = point.matrixTransform(ctm.inverse()).x;
      var i = Math.floor((x - left) / slot);
      return i >= 0 && i < n ? i : -1;
    }
    function hasData(i) {
      return values.some(function (v) { return v[i] > 0; });
    }
    function href(i) {
      if (!d.href || !hasData(i)) return null;
      var start = Date.parse(d.start + ":00Z") + i * Number(d.step) * 1000;
      return d.href + "&from=" + encodeURIComponent(minute(start)) +
        "&to=" + encodeURIComponent(minute(start + Number(d.step) * 1000));
    }
    function hide() {
      if (band) band.setAttribute("visibility", "hidden");
      if (tip) tip.hidden = true;
      svg.classList.remove("linked");
    }

    var current = -1;  // the bucket shown, for the keyboard
    function show(i, pageX, pageY) {
      current = i;
      if (band) {
        band.setAttribute("x", String(left + slot * i));
        band.setAttribute("visibility", "visible");
      }
      var said = names.map(function (name, k) { return values[k][i] + " " + name; });
      tip.textContent = labels[i] + ": " + said.join(", ");
      tip.hidden = false;
      tip.style.left = (pageX + 12) + "px";
      tip.style.top = (pageY + 12) + "px";
      svg.classList.toggle("linked", href(i) !== null);
    }
    // Where bucket i is on the page, for a tooltip the keyboard moved.
    function showAt(i) {
      var ctm = svg.getScreenCTM();
      if (!ctm) return;
      var point = svg.createSVGPoint();
      point.x = left + slot * (i + 0.5); point.y = 0;
      var at = point.matrixTransform(ctm);
      show(i, at.x + window.scrollX, at.y + window.scrollY);
    }

    svg.addEventListener("mousemove", function (event) {
      var i = bucketAt(event);
      if (i < 0) { hide(); return; }
      show(i, event.pageX, event.pageY);
    });
    svg.addEventListener("mouseleave", hide);
    svg.addEventListener("click", function (event) {
      var i = bucketAt(event);
      var target = i < 0 ? null : href(i);
      if (target) window.location.href = target;
    });
    // The keyboard: a chart with links takes the focus (tabindex from charts.py), the arrows
    // step through its buckets, Enter opens the one shown.
    svg.addEventListener("focus", function () {
      var last = n - 1;
      while (last > 0 && !hasData(last)) last--;
      showAt(current >= 0 ? current : last);
    });
    svg.addEventListener("blur", hide);
    svg.addEventListener("keydown", function (event) {
      if (event.key === "ArrowLeft" || event.key === "ArrowRight") {
        var step = event.key === "ArrowLeft" ? -1 : 1;
        showAt(Math.min(n - 1, Math.max(0, current + step)));
        event.preventDefault();
      } else if (event.key === "Enter" && current >= 0 && href(current)) {
        window.location.href = href(current);
      }
    });
  }

  var charts = document.querySelectorAll("svg.chart[data-values]");
  if (!charts.length) return;
  tip = document.createElement("div");
  tip.className = "chart-tip";
  tip.hidden = true;
  document.body.appendChild(tip);
  charts.forEach(setUp);
})();
