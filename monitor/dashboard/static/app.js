// Live refresh of the recent-hits table and auto-submitting filters.
// Feed text is attacker-controlled: rows are built with textContent only, never innerHTML.
"use strict";
(function () {
  document.querySelectorAll("select.autosubmit").forEach(function (el) {
    el.addEventListener("change", function () { el.form.submit(); });
  });

  var table = document.getElementById("hits");
  if (!table || table.dataset.live !== "on") return;
  var body = table.tBodies[0];
  var cursor = table.dataset.cursor;
  var query = table.dataset.query;

  function cell(tr, text, cls) {
    var td = document.createElement("td");
    if (cls) td.className = cls;
    if (text !== null) td.textContent = text;
    tr.appendChild(td);
    return td;
  }
  function link(td, href, text, external) {
    var a = document.createElement("a");
    a.href = href;
    a.textContent = text;
    if (external) { a.rel = "noopener noreferrer nofollow"; a.target = "_blank"; }
    td.appendChild(a);
  }
  function snippet(td, text, spans) {
    var pos = 0;
    (spans || []).slice().sort(function (a, b) { return a[0] - b[0]; }).forEach(function (s) {
      if (s[0] < pos || s[1] <= s[0] || s[1] > text.length) return;
      td.appendChild(document.createTextNode(text.slice(pos, s[0])));
      var m = document.createElement("mark");
      m.textContent = text.slice(s[0], s[1]);
      td.appendChild(m);
      pos = s[1];
    });
    td.appendChild(document.createTextNode(text.slice(pos)));
  }
  function short(iso) { return iso ? String(iso).slice(0, 16).replace("T", " ") : "\u2014"; }
  function status(td, cls, text) {
    var st = document.createElement("span");
    st.className = "status s-" + String(cls).replace(/[^a-z-]/g, "");
    st.textContent = text;
    td.appendChild(st);
  }
  // The same cells as templates/hits.html.
  function row(h) {
    var tr = document.createElement("tr");
    tr.className = "fresh";
    link(cell(tr, null, "time"), "/hits/" + encodeURIComponent(h.id), short(h.created_at));
    cell(tr, short(h.published_at), "time published");
    link(cell(tr, null), "/?watchlist=" + encodeURIComponent(h.watchlist), h.watchlist_name);
    var head = cell(tr, null, "headline");
    if (h.url && /^https?:\/\//i.test(h.url)) link(head, h.url, h.title, true); else head.textContent = h.title;
    cell(tr, h.source);
    cell(tr, Number(h.score).toFixed(2), "num score");
    snippet(cell(tr, null, "snippet"), h.snippet, h.highlights);
    var alert = cell(tr, null);
    if (h.not_alerted) {
      status(alert, "not-alerted", "not alerted: " + h.not_alerted_label);
      if (h.delivery_status !== "none") { alert.appendChild(document.createTextNode(" ")); status(alert, h.delivery_status, h.delivery_status); }
    } else {
      status(alert, h.delivery_status, h.delivery_status);
    }
    return tr;
  }
  function poll() {
    var url = "/api/hits?limit=100" + (query ? "&" + query : "") + (cursor ? "&after=" + encodeURIComponent(cursor) : "");
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (!data || !data.items.length) return;
        var empty = body.querySelector("tr.empty");
        if (empty) empty.remove();
        for (var i = data.items.length - 1; i >= 0; i--) body.insertBefore(row(data.items[i]), body.firstChild);
        cursor = data.items[0].cursor;
      })
      .catch(function () { /* next tick tries again */ });
  }
  setInterval(poll, 3000);
})();
