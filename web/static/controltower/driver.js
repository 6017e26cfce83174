/* The driver app on a phone. What the driver does (picked up, delivered, not delivered) and where
   the phone is go into a queue on the phone (IndexedDB) first, then to the tower in order, each with
   its own Idempotency-Key: with no network the queue waits and is sent when the network returns
   (or the app is opened again), and a call whose answer was lost is sent again without being
   applied twice. A queued action the tower refuses (dispatch moved the order meanwhile) is shown
   with the tower's reason. The van's stops are read again when the tower says they changed (the
   driver socket), and an order taken off or added is told. */
(function () {
  "use strict";
  var script = document.currentScript;
  var urls = { sw: script.dataset.sw, stops: script.dataset.stops, action: script.dataset.action, positions: script.dataset.positions,
               shift: script.dataset.shift, scan: script.dataset.scan, message: script.dataset.message,
               away: script.dataset.away };
  var RETRY_MS = 5000, BATCH_MS = 15000, POLL_MS = 60000, MIN_MOVE_M = 10;
  var WORDS = { picked_up: "Picked up", delivered: "Delivered", failed: "Not delivered" };

  /* ---- the queue on the phone ---- */
  var dbPromise = null;
  function db() {
    if (!dbPromise) {
      dbPromise = new Promise(function (resolve, reject) {
        var open = indexedDB.open("ct-driver", 1);
        open.onupgradeneeded = function () { open.result.createObjectStore("queue", { keyPath: "id", autoIncrement: true }); };
        open.onsuccess = function () { resolve(open.result); };
        open.onerror = function () { reject(open.error); };
      });
    }
    return dbPromise;
  }
  function store(mode, work) {
    return db().then(function (d) {
      return new Promise(function (resolve, reject) {
        var tx = d.transaction("queue", mode), result;
        result = work(tx.objectStore("queue"));
        tx.oncomplete = function () { resolve(result && "result" in result ? result.result : undefined); };
        tx.onerror = function () { reject(tx.error); };
      });
    });
  }
  function enqueue(item) { return store("readwrite", function (s) { return s.add(item); }); }
  function queued() { return store("readonly", function (s) { return s.getAll(); }); }
  function dequeue(id) { return store("readwrite", function (s) { return s.delete(id); }); }

  function newKey() {
    if (window.crypto && crypto.randomUUID) { return crypto.randomUUID(); }
    var b = crypto.getRandomValues(new Uint8Array(16));
    return Array.prototype.map.call(b, function (x) { return (x + 256).toString(16).slice(1); }).join("");
  }
  function csrf() {
    var m = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    if (m) { return decodeURIComponent(m[1]); }
    try { return JSON.parse(document.body.getAttribute("hx-headers"))["X-CSRFToken"]; } catch (e) { return ""; }
  }

  /* ---- what the driver sees ---- */
  function $(id) { return document.getElementById(id); }
  function say(id, text, isError) {
    var el = $(id);
    if (!el) { return; }
    el.textContent = text || "";
    el.hidden = !text;
    el.classList.toggle("error-message", !!isError);
  }
  function tell(text, isError) {
    var old = $("driver-message");
    if (old) { old.remove(); }
    say("notice", text, isError);
  }
  var waiting = 0, offlineSince = null;
  function showConnection() {
    var text = "";
    if (offlineSince !== null) {
      text = "No network: " + (waiting ? waiting + " thing" + (waiting === 1 ? "" : "s") + " kept on this phone, sent when the network returns." : "what you do is kept on this phone and sent when the network returns.");
    } else if (waiting) {
      text = "Sending " + waiting + " thing" + (waiting === 1 ? "" : "s") + "…";
    }
    say("connection", text, false);
  }

  function stopOf(ref, kind) { return document.querySelector('li.stop[data-order="' + CSS.escape(ref) + '"][data-kind="' + kind + '"]'); }
  function kindOf(action) { return action === "picked_up" ? "pickup" : "delivery"; }
  function markPending(item) {
    var li = stopOf(item.ref, kindOf(item.action));
    if (!li) { return; }
    li.classList.add("pending");
    li.querySelectorAll("form").forEach(function (f) { f.hidden = true; });
    var p = li.querySelector(".pending");
    if (p) {
      p.hidden = false;
      p.textContent = WORDS[item.action] + (offlineSince !== null ? ": kept on this phone, sent when the network returns." : ": sending…");
    }
  }
  function unmark(ref, kind) {
    var li = stopOf(ref, kind);
    if (!li) { return; }
    li.classList.remove("pending");
    li.querySelectorAll("form").forEach(function (f) { f.hidden = false; });
    var p = li.querySelector(".pending");
    if (p) { p.hidden = true; }
  }

  /* ---- sending, in order ---- */
  var flushing = null, again = false, retryTimer = null, mine = {};
  function retryLater() {
    if (!retryTimer) { retryTimer = setTimeout(function () { retryTimer = null; flush(); }, RETRY_MS); }
  }
  function flush() {
    /* One sender at a time; a call meanwhile (a tap, the network back) has it look again when done. */
    if (flushing) { again = true; return flushing; }
    flushing = send().then(function () {
      flushing = null;
      if (again) { again = false; return flush(); }
      return null;
    });
    return flushing;
  }
  function send() {
    return queued().then(function sendFirst(items) {
      waiting = items.length;
      showConnection();
      if (!items.length) { return null; }
      var item = items[0];
      return fetch(item.url, {
        method: "POST", credentials: "same-origin", redirect: "manual",
        headers: { "Content-Type": "application/json", "X-CSRFToken": csrf(), "Idempotency-Key": item.key, "X-Sent-At": String(Date.now()) },
        body: item.body
      }).then(function (res) {
        offlineSince = null;
        var json = (res.headers.get("Content-Type") || "").indexOf("application/json") === 0;
        if (res.status >= 500 || res.status === 429 || !json || res.status === 401) {
          if (res.status === 401 || !json) { tell("Log in again (open this app's page): what you did waits on this phone until then.", true); }
          retryLater();
          return null;
        }
        return res.json().then(function (data) {
          return dequeue(item.id).then(function () {
            if (item.kind === "action") { answered(item, res.ok, data); }
            if (item.kind === "shift" || item.kind === "message") {
              tell(res.ok ? data.message : (data.error && data.error.message) || "The tower refused this.", !res.ok);
              refreshStops();
            }
            return queued().then(sendFirst);
          });
        });
      }, function () {
        if (offlineSince === null) { offlineSince = Date.now(); }
        showConnection();
        items.forEach(function (i) { if (i.kind === "action") { markPending(i); } });
        retryLater();
        return null;
      });
    }).catch(function () { retryLater(); });
  }
  function answered(item, ok, data) {
    var li = stopOf(item.ref, kindOf(item.action));
    if (ok) {
      if (li) { li.remove(); }
      tell(data.message || "", false);
    } else {
      delete mine[item.ref + ":" + kindOf(item.action)];
      unmark(item.ref, kindOf(item.action));
      tell((data.error && data.error.message) || "The tower refused this.", true);
      refreshStops();
    }
  }

  /* ---- proof: a photo from the camera, a signature drawn on the screen ---- */
  function shrink(file) {
    /* A phone's photo is several MB: drawn again at most 1280 px wide as a JPEG, it is ~200 KB. */
    return createImageBitmap(file).then(function (bmp) {
      var scale = Math.min(1, 1280 / Math.max(bmp.width, bmp.height)), c = document.createElement("canvas");
      c.width = Math.round(bmp.width * scale);
      c.height = Math.round(bmp.height * scale);
      c.getContext("2d").drawImage(bmp, 0, 0, c.width, c.height);
      return c.toDataURL("image/jpeg", 0.7);
    });
  }
  var drawing = null;
  function padPoint(e) {
    var r = e.target.getBoundingClientRect();
    return [(e.clientX - r.left) * e.target.width / r.width, (e.clientY - r.top) * e.target.height / r.height];
  }
  document.addEventListener("pointerdown", function (e) {
    if (!e.target.classList || !e.target.classList.contains("signature-pad")) { return; }
    e.preventDefault();
    drawing = e.target;
    drawing.setPointerCapture(e.pointerId);
    var ctx = drawing.getContext("2d"), p = padPoint(e);
    ctx.lineWidth = 4; ctx.lineCap = "round"; ctx.strokeStyle = "#111";
    ctx.beginPath(); ctx.moveTo(p[0], p[1]);
  });
  document.addEventListener("pointermove", function (e) {
    if (!drawing || e.target !== drawing) { return; }
    var ctx = drawing.getContext("2d"), p = padPoint(e);
    ctx.lineTo(p[0], p[1]); ctx.stroke();
    drawing.dataset.signed = "1";
  });
  document.addEventListener("pointerup", function () { drawing = null; });
  document.addEventListener("click", function (e) {
    if (!e.target.classList || !e.target.classList.contains("clear-signature")) { return; }
    var pad = e.target.parentNode.querySelector(".signature-pad");
    pad.getContext("2d").clearRect(0, 0, pad.width, pad.height);
    delete pad.dataset.signed;
  });

  /* ---- the driver's actions ---- */
  function proofOf(form, body) {
    var file = form.querySelector("input[type=file][name=photo]"), pad = form.querySelector(".signature-pad");
    if (pad) {
      if (!pad.dataset.signed) { return Promise.reject(new Error("Have the recipient sign on the screen first.")); }
      body.signature = pad.toDataURL("image/png");
    }
    if (!file || !file.files.length) { return Promise.resolve(body); }
    return shrink(file.files[0]).then(function (url) { body.photo = url; return body; }, function () {
      throw new Error("That photo could not be read: take it again.");
    });
  }
  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (form.dataset && form.dataset.shiftAction) { shiftAction(e, form); return; }
    if (form.id === "message-form") { messageAction(e, form); return; }
    if (!form.dataset || !form.dataset.action) { return; }
    e.preventDefault();
    var fields = new FormData(form), action = form.dataset.action, ref = form.dataset.ref;
    var body = { ref: ref, action: action, tapped_at: Date.now() };
    if (action === "delivered") {
      if (fields.has("pin")) { body.pin = fields.get("pin"); }
      if (fields.has("born_on")) { body.born_on = fields.get("born_on"); }
    }
    if (action === "failed") { body.reason = fields.get("reason"); }
    proofOf(form, body).then(function () {
      var item = { kind: "action", key: newKey(), url: urls.action, ref: ref, action: action, body: JSON.stringify(body) };
      mine[ref + ":" + kindOf(action)] = true;
      markPending(item);
      return enqueue(item).then(flush);
    }, function (err) { tell(err.message, true); });
  });

  function messageAction(e, form) {
    e.preventDefault();
    var input = form.querySelector("input[name=text]"), text = input.value.trim();
    if (!text) { return; }
    input.value = "";
    enqueue({ kind: "message", key: newKey(), url: urls.message, body: JSON.stringify({ text: text, tapped_at: Date.now() }) }).then(flush);
  }
  function shiftAction(e, form) {
    e.preventDefault();
    var body = { action: form.dataset.shiftAction, tapped_at: Date.now() };
    if (body.action === "start") {
      body.checks = {};
      form.querySelectorAll("input[type=radio]:checked").forEach(function (r) { body.checks[r.name.replace(/^check_/, "")] = r.value === "ok"; });
      body.note = (form.querySelector("input[name=note]") || {}).value || "";
    }
    form.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
    enqueue({ kind: "shift", key: newKey(), url: urls.shift, body: JSON.stringify(body) }).then(flush);
  }

  /* ---- loading at the hub: a parcel's code from the camera, a photo of its label, or typed ---- */
  function scanSay(text, isError) { say("scan-result", text, isError); }
  function loadParcel(raw) {
    var code = String(raw || "").trim(), pickup = null, aboard = null;
    if (!code) { return; }
    document.querySelectorAll("li.stop").forEach(function (li) {
      if (li.dataset.order.toLowerCase() !== code.toLowerCase()) { return; }
      if (li.dataset.kind === "pickup") { pickup = li; } else { aboard = li; }
    });
    if (pickup && pickup.classList.contains("pending")) { scanSay(pickup.dataset.order + " is scanned already.", false); return; }
    if (pickup) {
      pickup.querySelector("form[data-action=picked_up]").requestSubmit();
      scanSay(pickup.dataset.order + " loaded.", false);
      return;
    }
    if (aboard) { scanSay(aboard.dataset.order + " is on board already.", false); return; }
    scanSay(code + " is not for your van: leave it at the hub.", true);
  }
  document.addEventListener("submit", function (e) {
    if (e.target.id !== "scan-typed") { return; }
    e.preventDefault();
    var input = e.target.querySelector("input[name=code]");
    loadParcel(input.value);
    input.value = "";
    input.focus();
  });
  document.addEventListener("change", function (e) {
    if (e.target.id !== "scan-photo" || !e.target.files.length) { return; }
    var file = e.target.files[0];
    e.target.value = "";
    scanSay("Reading the label…", false);
    shrink(file).then(function (image) {
      return fetch(urls.scan, { method: "POST", credentials: "same-origin", headers: { "Content-Type": "application/json", "X-CSRFToken": csrf() },
                                body: JSON.stringify({ image: image }) });
    }).then(function (res) {
      return res.json().then(function (data) {
        if (!res.ok) { scanSay((data.error && data.error.message) || "That label could not be read.", true); return; }
        data.codes.forEach(loadParcel);
      });
    }, function () { scanSay("No network to read the photo: type the code under the barcode.", true); });
  });
  var scanning = null;
  if ("BarcodeDetector" in window) {  // Chrome on Android: the camera reads labels on the phone itself
    document.addEventListener("click", function (e) {
      if (e.target.id !== "scan-camera") { return; }
      var video = $("scan-video");
      if (scanning) { scanning.getTracks().forEach(function (t) { t.stop(); }); scanning = null; video.hidden = true; e.target.textContent = "Scan with the camera"; return; }
      navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } }).then(function (stream) {
        scanning = stream;
        video.srcObject = stream;
        video.hidden = false;
        e.target.textContent = "Stop scanning";
        video.play();
        var detector = new BarcodeDetector(), seen = {};
        (function look() {
          if (!scanning) { return; }
          detector.detect(video).then(function (codes) {
            codes.forEach(function (c) {
              if (!seen[c.rawValue] || Date.now() - seen[c.rawValue] > 3000) { seen[c.rawValue] = Date.now(); loadParcel(c.rawValue); }
            });
          }).catch(function () { return null; }).then(function () { setTimeout(look, 250); });
        }());
      }, function () { scanSay("The camera is not available: take a photo of the label or type its code.", true); });
    });
  }
  function showCamera() { var b = $("scan-camera"); if (b && "BarcodeDetector" in window) { b.hidden = false; } }
  showCamera();

  /* ---- the van's stops, read again when they change ---- */
  var refreshing = null;
  function refreshStops() {
    if (refreshing) { return refreshing; }
    refreshing = fetch(urls.stops, { credentials: "same-origin", redirect: "manual" }).then(function (res) {
      if (!res.ok) { return null; }
      return res.text().then(function (html) {
        var next = new DOMParser().parseFromString(html, "text/html").getElementById("day"), day = $("day");
        if (!next || !day) { return; }
        var before = refs(day), after = refs(next), gone = [], added = [], focus = carryOver(day, next);
        Object.keys(before).forEach(function (k) { if (!after[k] && !mine[k] && k.slice(-9) === ":delivery") { gone.push(k.slice(0, -9)); } });
        Object.keys(after).forEach(function (k) { if (!before[k] && k.slice(-9) === ":delivery") { added.push(k.slice(0, -9)); } });
        patch(day, next);
        if (focus) { focus.focus(); }
        return queued().then(function (items) {
          items.forEach(function (i) { if (i.kind === "action") { markPending(i); } });
          var words = [];
          if (gone.length) { words.push(gone.join(", ") + (gone.length === 1 ? " was" : " were") + " taken off your van by dispatch: don't deliver " + (gone.length === 1 ? "it." : "them.")); }
          if (added.length) { words.push(added.join(", ") + (added.length === 1 ? " was" : " were") + " added to your stops."); }
          if (words.length) { tell(words.join(" "), false); }
        });
      });
    }).catch(function () { return null; }).then(function () { refreshing = null; });
    return refreshing;
  }
  function patch(day, next) {
    /* The new stops in place of the old, touching only what changed: a stop that reads the same
       (data-sig: the order's version and ETA) is kept as it is; replacing 60 stops whole cost a
       phone a long frame at every change. */
    var list = day.querySelector("#stops"), nextList = next.querySelector("#stops");
    var shift = day.querySelector("#shift"), nextShift = next.querySelector("#shift");
    if (!list || !nextList || !shift || !nextShift || day.dataset.shift !== next.dataset.shift) { day.replaceWith(next); return; }
    if (shift.innerHTML !== nextShift.innerHTML) { shift.replaceWith(nextShift); }
    var scan = day.querySelector("#scan"), nextScan = next.querySelector("#scan");
    if (scan && !nextScan) { scan.remove(); }
    else if (!scan && nextScan) { list.parentNode.insertBefore(nextScan, list); showCamera(); }
    else if (scan && nextScan) { scan.querySelector(".muted").textContent = nextScan.querySelector(".muted").textContent; }
    var thread = day.querySelector("#thread"), nextThread = next.querySelector("#thread");
    if (thread && nextThread && thread.dataset.sig !== nextThread.dataset.sig) {
      var theirs = nextThread.querySelectorAll("li.from-dispatch"), known = {};
      thread.querySelectorAll("li[data-message]").forEach(function (li) { known[li.dataset.message] = true; });
      thread.replaceWith(nextThread);
      var newest = theirs.length ? theirs[theirs.length - 1] : null;
      if (newest && !known[newest.dataset.message]) { tell("New message from dispatch: " + newest.querySelector(".text").textContent, false); }
    }
    var card = day.querySelector("#shift-card"), nextCard = next.querySelector("#shift-card");
    if (card && nextCard && card.dataset.sig !== nextCard.dataset.sig) { card.replaceWith(nextCard); }
    else if (card && nextCard) { card.querySelectorAll("button").forEach(function (b) { b.disabled = false; }); }
    var old = {}, chosen = [];
    Array.prototype.forEach.call(list.children, function (li) { old[li.dataset.order + ":" + li.dataset.kind] = li; });
    Array.prototype.slice.call(nextList.children).forEach(function (li) {
      var was = old[li.dataset.order + ":" + li.dataset.kind];
      chosen.push(was && li.dataset.sig && was.dataset.sig === li.dataset.sig ? was : li);
    });
    Array.prototype.slice.call(list.children).forEach(function (li) { if (chosen.indexOf(li) < 0) { li.remove(); } });
    chosen.forEach(function (li, i) { if (list.children[i] !== li) { list.insertBefore(li, list.children[i] || null); } });
  }
  function carryOver(from, to) {
    /* What the driver was typing, choosing, photographing or signing stays as it was when the stops
       are read again: each field goes to its twin in the new list. Returns the field to focus. */
    var active = document.activeElement, focus = null;
    from.querySelectorAll("li.stop").forEach(function (li) {
      var twin = to.querySelector('li.stop[data-order="' + CSS.escape(li.dataset.order) + '"][data-kind="' + li.dataset.kind + '"]');
      if (!twin) { return; }
      li.querySelectorAll("form[data-action] input[name], form[data-action] select[name]").forEach(function (el) {
        if (el.name === "csrfmiddlewaretoken") { return; }
        var target = twin.querySelector('form[data-action="' + el.form.dataset.action + '"] [name="' + el.name + '"]');
        if (!target) { return; }
        if (el.type === "file") { if (el.files.length) { target.files = el.files; } } else if (el.type === "checkbox") { target.checked = el.checked; } else { target.value = el.value; }
        if (el === active) { focus = target; }
      });
      var pad = li.querySelector(".signature-pad"), padTo = twin.querySelector(".signature-pad");
      if (pad && padTo && pad.dataset.signed) {
        padTo.getContext("2d").drawImage(pad, 0, 0);
        padTo.dataset.signed = "1";
      }
    });
    return focus;
  }
  function refs(root) {
    var out = {};
    root.querySelectorAll("li.stop").forEach(function (li) { out[li.dataset.order + ":" + li.dataset.kind] = true; });
    return out;
  }

  var socket = null, backoff = 1000, opened = false, pageAt = Date.now();
  function connect() {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    try { socket = new WebSocket(scheme + location.host + "/ws/driver/"); } catch (e) { return; }
    socket.onopen = function () {
      backoff = 1000;
      // The stops are read again on every reconnection (changes may have been missed meanwhile), and
      // on the first unless the page itself was just read.
      if (opened || Date.now() - pageAt > 10000) { refreshStops(); }
      opened = true;
    };
    socket.onmessage = function (m) {
      var data;
      try { data = JSON.parse(m.data); } catch (e) { return; }
      if (data.type === "stops") { refreshStops(); }
    };
    socket.onclose = function (e) {
      socket = null;
      if (e.code === 4401) { return; }  // logged out: the page says so on its next read
      setTimeout(connect, backoff);
      backoff = Math.min(backoff * 2, 30000);
    };
  }

  /* ---- where the phone is ---- */
  var points = [], last = null;
  function metres(a, b) {
    var r = 6371000, rad = Math.PI / 180, dLat = (b.lat - a.lat) * rad, dLon = (b.lon - a.lon) * rad;
    var h = Math.sin(dLat / 2) * Math.sin(dLat / 2) + Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dLon / 2) * Math.sin(dLon / 2);
    return 2 * r * Math.asin(Math.sqrt(h));
  }
  function onPosition(pos) {
    var c = pos.coords, p = { lat: c.latitude, lon: c.longitude, t: Date.now() };
    if (typeof c.speed === "number" && isFinite(c.speed)) { p.speed = Math.max(0, c.speed); }
    if (typeof c.heading === "number" && isFinite(c.heading)) { p.heading = c.heading % 360; }
    if (last && metres(last, p) < MIN_MOVE_M && p.t - last.t < BATCH_MS) { return; }
    last = p;
    points.push(p);
    if ($("position-note")) { $("position-note").hidden = false; }
  }
  function sendPositions() {
    if (!points.length) { return Promise.resolve(); }
    var batch = points.splice(0, 600);
    return enqueue({ kind: "positions", key: newKey(), url: urls.positions, body: JSON.stringify({ points: batch }) }).then(flush);
  }
  if (navigator.geolocation && $("day") && $("day").dataset.shift) {
    navigator.geolocation.watchPosition(onPosition, function (err) {
      if (err.code === 1) { tell("Allow this site to use your location, so that dispatch sees where you are and your customers get true times.", true); }
    }, { enableHighAccuracy: true, maximumAge: 5000, timeout: 60000 });
    setInterval(sendPositions, BATCH_MS);
  }

  /* ---- staying alive ---- */
  window.addEventListener("online", function () { flush(); refreshStops(); });
  function tellAway(away) {
    /* The tower expects no positions while the app is in the background (navigating elsewhere). */
    if (!navigator.sendBeacon || !$("day") || !$("day").dataset.shift) { return; }
    var form = new FormData();
    form.append("away", away ? "1" : "0");
    form.append("csrfmiddlewaretoken", csrf());
    navigator.sendBeacon(urls.away, form);
  }
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "hidden") { sendPositions(); tellAway(true); } else { tellAway(false); flush(); refreshStops(); }
  });
  // The stops again every minute while the app is in view: live ETAs (the socket tells only of
  // changes to the route), and everything when the socket is down.
  setInterval(function () { if (document.visibilityState === "visible") { refreshStops(); } }, POLL_MS);
  if ("serviceWorker" in navigator && urls.sw) {
    navigator.serviceWorker.register(urls.sw).catch(function () { return null; });
  }
  connect();
  flush();
}());
