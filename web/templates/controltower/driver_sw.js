/* The driver app's service worker: it keeps the app's files and its last page, so that the app
   opens with no network (the stops as they were last read; what the driver does waits in the
   page's queue). Pages are read from the network first; files from the cache of this version. */
"use strict";
var VERSION = {{ version|safe }};
var ASSETS = {{ assets|safe }};
var CACHE = "ct-driver-" + VERSION;
var PAGE = "{% url 'driver' %}";

self.addEventListener("install", function (e) {
  e.waitUntil(caches.open(CACHE).then(function (c) { return c.addAll(ASSETS); }).then(function () { return self.skipWaiting(); }));
});

self.addEventListener("activate", function (e) {
  e.waitUntil(caches.keys().then(function (keys) {
    return Promise.all(keys.filter(function (k) { return k.indexOf("ct-driver-") === 0 && k !== CACHE; })
      .map(function (k) { return caches.delete(k); }));
  }).then(function () { return self.clients.claim(); }));
});

self.addEventListener("fetch", function (e) {
  var req = e.request, url = new URL(req.url);
  if (req.method !== "GET" || url.origin !== self.location.origin) { return; }
  if (req.mode === "navigate" && url.pathname === PAGE) {
    e.respondWith(fetch(req).then(function (res) {
      if (res.ok && !res.redirected) {
        var copy = res.clone();
        caches.open(CACHE).then(function (c) { c.put(PAGE, copy); });
      }
      return res;
    }).catch(function () {
      return caches.match(PAGE).then(function (hit) {
        return hit || new Response("No network, and this phone has not opened the app before. Try again with a network.",
          { status: 503, headers: { "Content-Type": "text/plain; charset=utf-8" } });
      });
    }));
    return;
  }
  if (ASSETS.indexOf(url.pathname) >= 0) {
    e.respondWith(caches.match(url.pathname).then(function (hit) { return hit || fetch(req); }));
  }
});
