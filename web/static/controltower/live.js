/* Live control tower glue: the WebSocket brings numbered hints; HTTP state is the truth.
   On connect, reconnect or any gap in sequence numbers, the page reloads state over HTTP. */
(function () {
  "use strict";
  const cfg = JSON.parse(document.getElementById("ct-config").textContent);
  const stateEl = document.getElementById("live-state");
  const map = L.map("map", { preferCanvas: false, zoomSnap: 0.25, attributionControl: !!cfg.tileUrl });
  // A basemap only where the installation configured one (MAP_TILE_URL); the tile-less grid otherwise.
  if (cfg.tileUrl) L.tileLayer(cfg.tileUrl, { attribution: cfg.tileAttribution || "", maxZoom: 19 }).addTo(map);
  map.setView([41.88, -87.65], 11);
  const layers = { hubs: L.layerGroup().addTo(map), orders: L.layerGroup().addTo(map), vehicles: L.layerGroup().addTo(map) };
  const ct = (window.ct = { lastSeq: 0, vehicles: {}, orders: {}, reloads: 0, messages: 0, fitted: false });
  let reloading = null;
  let buffered = [];
  let refreshTimer = null;

  function status(text) { stateEl.textContent = text; stateEl.dataset.seq = String(ct.lastSeq); }

  function vanIcon(v) {
    const colour = (cfg.dutyColours || {})[v.status] || "#2563eb";
    return L.divIcon({
      className: "van-marker",
      html: '<span class="van" data-vehicle="' + v.code + '" style="border-color:' + colour + '">' + v.code + "</span>",
      iconSize: [46, 18], iconAnchor: [23, 9],
    });
  }

  function upsertVehicle(v) {
    if (v.lat == null || v.lon == null) return;
    let m = ct.vehicles[v.code];
    if (!m) {
      m = L.marker([v.lat, v.lon], { icon: vanIcon(v), zIndexOffset: 1000, keyboard: false }).addTo(layers.vehicles);
      ct.vehicles[v.code] = m;
      m.on("click", function () { showRoute(v.code); });
    } else {
      m.setLatLng([v.lat, v.lon]);
      if (m.options._status !== v.status) m.setIcon(vanIcon(v));
    }
    m.options._status = v.status;
    m.bindTooltip(v.code + (v.speed_kmh != null ? " · " + Math.round(v.speed_kmh) + " km/h" : ""));
  }

  // A van's route, drawn in stop order, with a link to its page (driver, load, ETAs).
  let routeLine = null;
  function showRoute(code) {
    fetch("/vehicles/" + encodeURIComponent(code) + "/?format=json", { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (route) {
        if (!route) return;
        if (routeLine) map.removeLayer(routeLine);
        routeLine = L.polyline(route.path, { color: "#38bdf8", weight: 3, dashArray: "6 4" }).addTo(map);
        const box = document.createElement("span"), link = document.createElement("a");
        link.href = "/vehicles/" + encodeURIComponent(code) + "/"; link.textContent = "Van " + code;
        box.appendChild(link); box.appendChild(document.createTextNode(": " + route.stops.length + " stops left"));
        ct.vehicles[code].bindPopup(box).openPopup();
      });
  }

  function upsertOrder(o) {
    const terminal = o.status === "cancelled" || o.status === "returned";
    let m = ct.orders[o.ref];
    if (terminal) { if (m) { layers.orders.removeLayer(m); delete ct.orders[o.ref]; } return; }
    const style = {
      radius: o.status === "delivered" ? 3 : 5, weight: o.risk === "on_time" ? 1 : 3,
      color: o.risk === "on_time" ? "#1e293b" : o.risk_colour, fillColor: o.colour, fillOpacity: 0.9,
    };
    if (!m) {
      m = L.circleMarker([o.lat, o.lon], style).addTo(layers.orders);
      ct.orders[o.ref] = m;
      // The table is the keyboard's way to the orders: markers stay out of the tab order.
      const el = m.getElement && m.getElement();
      if (el) { el.setAttribute("tabindex", "-1"); el.setAttribute("focusable", "false"); el.setAttribute("aria-hidden", "true"); }
      m.on("click", function () { location.href = "/orders/" + encodeURIComponent(o.ref) + "/"; });
    } else {
      m.setStyle(style);
    }
    m.bindTooltip(o.ref + " · " + o.status_label + (o.vehicle ? " · " + o.vehicle : o.carrier ? " · " + o.carrier : ""));
  }

  function render(state) {
    layers.hubs.clearLayers(); layers.orders.clearLayers(); layers.vehicles.clearLayers();
    ct.vehicles = {}; ct.orders = {};
    state.hubs.forEach(function (h) {
      L.marker([h.lat, h.lon], { keyboard: false, icon: L.divIcon({ className: "hub-marker", html: '<span class="hub">' + h.code + "</span>", iconSize: [56, 20], iconAnchor: [28, 10] }) })
        .bindTooltip(h.name).addTo(layers.hubs);
    });
    state.orders.forEach(upsertOrder);
    state.vehicles.forEach(upsertVehicle);
    if (!ct.fitted) {
      const pts = state.hubs.map(function (h) { return [h.lat, h.lon]; }).concat(state.orders.map(function (o) { return [o.lat, o.lon]; }));
      if (pts.length) { map.fitBounds(L.latLngBounds(pts).pad(0.05)); ct.fitted = true; }
    }
  }

  function refreshPartials() {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(function () {
      ["kpis", "carriers", "order-filters"].forEach(function (id) {
        const el = document.getElementById(id);
        if (el) htmx.trigger(el, "ct-refresh");
      });
    }, 150);
  }

  let queueTimer = null;
  // A dispatcher's own action from a panel (approve, reject, claim... in the queue; undo in the feed)
  // still on its way: refreshing the panel meanwhile would remove the element that sent it, and htmx
  // then swaps nothing of the answer outside the panel (the approval's status line never showed). A
  // refresh waits for the answer; one already on its way would land first all the same, so it is
  // called off, and made again once the action is answered.
  const panels = {
    exceptions: { actions: 0, loading: false, stale: false, refresh: function () { refreshQueue(); } },
    activity: { actions: 0, loading: false, stale: false, refresh: function () { refreshActivity(); } },
  };
  const queuePanel = panels.exceptions;
  function panelOf(e) {  // [panel, true for its own refresh] of an htmx request, or null
    const elt = e.detail && e.detail.elt;
    if (!elt || !elt.closest) return null;
    if (panels[elt.id]) return [panels[elt.id], true];
    const verb = e.detail.requestConfig && e.detail.requestConfig.verb;
    const home = verb && verb !== "get" ? elt.closest("#exceptions, #activity") : null;
    return home ? [panels[home.id], false] : null;
  }
  document.addEventListener("htmx:beforeRequest", function (e) {
    const found = panelOf(e);
    if (!found) return;
    const p = found[0];
    if (found[1]) { p.loading = true; return; }
    p.actions += 1;
    if (p.loading) { htmx.trigger(e.detail.elt.closest("#exceptions, #activity"), "htmx:abort"); p.stale = true; }
  });
  document.addEventListener("htmx:afterRequest", function (e) {
    const found = panelOf(e);
    if (!found) return;
    const p = found[0];
    if (found[1]) { p.loading = false; return; }
    p.actions = Math.max(0, p.actions - 1);
    if (p.stale && p.actions === 0) setTimeout(p.refresh, 0);
  });
  function refreshQueue() {
    clearTimeout(queueTimer);
    queueTimer = setTimeout(function () {
      const el = document.getElementById("exceptions");
      if (!el) return;
      if (queuePanel.actions > 0) { queuePanel.stale = true; return; }
      // Do not pull the form from under a dispatcher who is choosing: refresh once focus leaves it.
      if (el.contains(document.activeElement) && document.activeElement !== document.body) { queuePanel.stale = true; return; }
      queuePanel.stale = false;
      htmx.trigger(el, "ct-refresh-queue");
    }, 200);
  }
  document.addEventListener("focusout", function () {
    if (queuePanel.stale) setTimeout(refreshQueue, 0);
  });

  // Decision cards: select all / none, a group's box, the count of selected orders. What a
  // dispatcher unticked survives a refresh of the queue (same decision id).
  ct.unticked = {};
  function decisionForm(el) { return el.closest ? el.closest("form.decision") : null; }
  function updateCount(form) {
    const boxes = form.querySelectorAll('input[name="orders"]');
    let n = 0; boxes.forEach(function (b) { if (b.checked) n += 1; });
    const c = form.querySelector("[data-count]"); if (c) c.textContent = String(n);
    form.querySelectorAll("tbody[data-group]").forEach(function (g) {
      const t = g.querySelector("[data-group-toggle]"); const own = g.querySelectorAll('input[name="orders"]');
      let on = 0; own.forEach(function (b) { if (b.checked) on += 1; });
      if (t) { t.checked = on === own.length; t.indeterminate = on > 0 && on < own.length; }
    });
    const un = ct.unticked[form.dataset.decision] = [];
    boxes.forEach(function (b) { if (!b.checked) un.push(b.value); });
  }
  document.addEventListener("click", function (e) {
    const button = e.target.closest ? e.target.closest("button[data-select]") : null;
    if (!button) return;
    const form = decisionForm(button); if (!form) return;
    const on = button.dataset.select === "all";
    form.querySelectorAll('input[name="orders"]').forEach(function (b) { b.checked = on; });
    updateCount(form);
  });
  document.addEventListener("change", function (e) {
    const form = decisionForm(e.target); if (!form) return;
    if (e.target.hasAttribute("data-group-toggle")) {
      const on = e.target.checked;
      e.target.closest("tbody").querySelectorAll('input[name="orders"]').forEach(function (b) { b.checked = on; });
    }
    updateCount(form);
  });
  document.body.addEventListener("htmx:afterSwap", function (e) {
    if (!e.detail.target || e.detail.target.id !== "exceptions") return;
    e.detail.target.querySelectorAll("form.decision").forEach(function (form) {
      const un = ct.unticked[form.dataset.decision];
      if (un && un.length) {
        form.querySelectorAll('input[name="orders"]').forEach(function (b) { if (un.indexOf(b.value) >= 0) b.checked = false; });
        updateCount(form);
      }
    });
  });

  // Orders table: sort by a column, page through, and start from page 1 when a filter changes.
  document.addEventListener("click", function (e) {
    const b = e.target.closest ? e.target.closest("#orders-table button[data-sort], #orders-table button[data-page]") : null;
    if (!b) return;
    const form = document.getElementById("order-filters");
    if (b.dataset.sort !== undefined) { form.elements.sort.value = b.dataset.sort; form.elements.page.value = "1"; }
    else form.elements.page.value = b.dataset.page;
    htmx.trigger(form, "ct-refresh");
  });
  document.addEventListener("change", function (e) {
    const form = document.getElementById("order-filters");
    if (form && e.target.form === form && e.target.name !== "page") form.elements.page.value = "1";
  }, true);

  // Bulk selection in the orders table survives the table's refreshes; a bulk action clears it.
  ct.selected = new Set();
  function showSelected() {
    const n = ct.selected.size, el = document.getElementById("bulk-count");
    if (el) el.textContent = n ? n + " selected." : "None selected.";
    document.querySelectorAll("#orders-table input.bulk-pick").forEach(function (box) { box.checked = ct.selected.has(box.value); });
  }
  document.addEventListener("change", function (e) {
    if (!e.target.classList || !e.target.classList.contains("bulk-pick")) return;
    if (e.target.checked) ct.selected.add(e.target.value); else ct.selected.delete(e.target.value);
    showSelected();
  });
  document.body.addEventListener("htmx:afterSwap", function (e) { if (e.target.id === "orders-table") showSelected(); });
  document.body.addEventListener("htmx:configRequest", function (e) {
    if (e.detail.elt.id !== "bulk-form") return;
    e.detail.parameters.delete ? e.detail.parameters.delete("refs") : delete e.detail.parameters.refs;
    const refs = Array.from(ct.selected);
    if (e.detail.parameters.append) refs.forEach(function (r) { e.detail.parameters.append("refs", r); });
    else e.detail.parameters.refs = refs;
  });
  document.body.addEventListener("htmx:afterRequest", function (e) {
    if (e.detail.elt.id !== "bulk-form" || !e.detail.successful) return;
    ct.selected.clear(); showSelected(); trigger("order-filters");
  });

  // A 409 (someone else acted first) carries the current state: show it like any answer.
  document.body.addEventListener("htmx:beforeSwap", function (e) {
    if ([400, 403, 409].indexOf(e.detail.xhr.status) >= 0) { e.detail.shouldSwap = true; e.detail.isError = false; }
  });

  // Patch what changed instead of refetching whole panels: a row in the orders table is updated in
  // place; the table is refetched (at most every 2 s) only when an order it does not show changed;
  // the KPIs (a few bytes) at most every 2 s; the carrier strip only when a carrier changed.
  const hm = new Intl.DateTimeFormat([], { hour: "2-digit", minute: "2-digit", hour12: false, timeZone: cfg.timeZone || undefined });
  function hhmm(iso) { return iso ? hm.format(new Date(iso)) : "–"; }
  function throttled(fn, ms) {
    let timer = null;
    return function () { if (timer) return; timer = setTimeout(function () { timer = null; fn(); }, ms); };
  }
  function trigger(id, eventName) { const el = document.getElementById(id); if (el) htmx.trigger(el, eventName || "ct-refresh"); }
  const refreshKpis = throttled(function () { trigger("kpis"); }, 2000);
  const refreshCarriers = throttled(function () { trigger("carriers"); }, 500);
  const refreshTable = throttled(function () { trigger("order-filters"); }, 2000);
  const refreshActivity = throttled(function () {
    if (panels.activity.actions > 0) { panels.activity.stale = true; return; }  // after the answer (see panels)
    panels.activity.stale = false;
    trigger("activity");
  }, 1000);
  function patchRow(d) {
    const row = document.querySelector('#orders-table tr[data-ref="' + CSS.escape(d.ref) + '"]');
    if (!row) return false;
    function cell(name) { return row.querySelector('[data-col="' + name + '"]'); }  // by name: columns may come and go
    const status = cell("status"), risk = cell("risk");
    if (!status || !risk) return false;
    status.innerHTML = '<span class="chip"></span>';
    const chip = status.firstChild; chip.style.setProperty("--c", d.colour); chip.textContent = d.status_label;
    risk.innerHTML = '<span class="dot"></span>';
    risk.firstChild.style.background = d.risk_colour;
    risk.appendChild(document.createTextNode((cfg.riskLabels || {})[d.risk] || d.risk));
    cell("window_end").textContent = hhmm(d.window_end);
    cell("eta").textContent = hhmm(d.eta);
    cell("by").textContent = d.vehicle ? "van " + d.vehicle : (d.carrier || "–");
    row.dataset.status = d.status;
    return true;
  }
  function showViewers(names) { const el = document.getElementById("viewers"); if (el) el.textContent = (names || []).join(", ") || "–"; }
  function announce(text) { const a = document.getElementById("announcer"); if (a) a.textContent = text; }

  function apply(msg) {
    ct.lastSeq = msg.seq;
    ct.messages += 1;
    const d = msg.data;
    if (msg.type === "vehicles.moved") d.vehicles.forEach(upsertVehicle);
    else if (msg.type === "order.changed") { upsertOrder(d); if (!patchRow(d)) refreshTable(); refreshKpis(); }
    else if (msg.type === "orders.imported") { refreshTable(); refreshKpis(); reload(); }
    else if (msg.type === "vehicle.changed") { const m = ct.vehicles[d.code]; if (m) { m.options._status = null; } reload(); }
    else if (msg.type === "exception.changed") {
      refreshQueue(); refreshKpis(); refreshActivity();
      if (d.state === "open") announce("Exception: " + d.title);
    }
    else if (msg.type === "decision.changed") {
      refreshQueue(); refreshActivity();
      if (d.state === "applied" || d.state === "partially_applied") announce("Decision " + d.id + " " + d.state.replace("_", " "));
    }
    else if (msg.type === "presence.changed") { showViewers(d.viewers); }
    else if (msg.type === "carrier.changed") { refreshCarriers(); refreshActivity(); announce(d.code + " is " + d.health); }
    else refreshKpis();
    status("live · #" + ct.lastSeq);
  }

  function reload() {
    if (reloading) return reloading;
    buffered = [];
    reloading = fetch(cfg.stateUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) throw new Error("state " + r.status); return r.json(); })
      .then(function (state) {
        ct.lastSeq = state.seq; ct.epoch = state.epoch; ct.reloads += 1;
        render(state);
        showViewers(state.viewers);
        refreshPartials();
        refreshQueue();
        const pending = buffered.sort(function (a, b) { return a.seq - b.seq; });
        buffered = [];
        reloading = null;
        pending.forEach(receive);
        status("live · #" + ct.lastSeq);
      })
      .catch(function () { reloading = null; status("reload failed; retrying"); setTimeout(reload, 2000); });
    return reloading;
  }

  function receive(msg) {
    if (reloading) { buffered.push(msg); return; }
    if (msg.epoch && msg.epoch !== ct.epoch) { reload(); return; }  // numbering began anew (Redis restarted)
    if (msg.seq <= ct.lastSeq) return;            // already part of the state we hold
    if (msg.seq !== ct.lastSeq + 1) { reload(); return; }  // a gap: a hint was lost
    apply(msg);
  }

  // Tell the server what has been read (every 10 hints or 200 ms): one that stops hearing from a
  // page (a frozen tab) stops sending, and asks for a resync once the page reads again.
  let unacked = 0, ackTimer = null, lastRead = 0;
  function sendAck() {
    clearTimeout(ackTimer); ackTimer = null; unacked = 0;
    if (ct.socket && ct.socket.readyState === 1) ct.socket.send(JSON.stringify({ ack: lastRead }));
  }
  function read(msg) {
    if (msg.type === "resync") { ct.resyncs = (ct.resyncs || 0) + 1; reload(); return; }
    lastRead = Math.max(lastRead, msg.seq || 0);
    unacked += 1;
    if (unacked >= 10) sendAck(); else if (!ackTimer) ackTimer = setTimeout(sendAck, 200);
    receive(msg);
  }

  let backoff = 500;
  function connect() {
    const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + cfg.wsPath);
    ct.socket = ws;
    ws.onopen = function () { backoff = 500; lastRead = 0; status("live"); sendAck(); reload(); };
    ws.onmessage = function (e) { read(JSON.parse(e.data)); };
    ws.onclose = function (e) {
      if (e.code === 4401) { status("signed out"); location.href = "/login/?next=/"; return; }
      status("reconnecting…");
      setTimeout(connect, backoff); backoff = Math.min(backoff * 2, 10000);
    };
  }
  connect();
})();
