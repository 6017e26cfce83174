/* The tracking page follows its order over the live channel: a hint arrives, the page section is
   fetched again. On a lost connection it reconnects, and fetches once to catch up. */
(function () {
  const section = document.getElementById("track");
  if (!section) return;
  function refresh() { htmx.ajax("GET", location.pathname, { target: "#track", select: "#track", swap: "outerHTML" }); }
  let backoff = 1000;
  function connect() {
    const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + section.dataset.ws);
    ws.onopen = function () { if (backoff > 1000) refresh(); backoff = 1000; };
    ws.onmessage = function () { refresh(); };
    ws.onclose = function (e) { if (e.code === 4404) return; setTimeout(connect, backoff); backoff = Math.min(backoff * 2, 30000); };
  }
  connect();
})();
