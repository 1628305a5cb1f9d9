// alpaca-integration dashboard: live updates without a reload, in plain JS (no build step).
// The server names what changed (Server-Sent Events at data-events); each region of the page
// whose data-parts match is fetched again from its data-src (the same query, one fragment) and
// swapped in. A reconnect sends the last event id back; if the page fell behind, the server
// answers with one change naming every part, and every region is re-rendered from the store.
"use strict";
(function () {
  const body = document.body;
  const status = document.getElementById("live-status");
  const pending = new Set();
  let lastId = body.dataset.since || "";
  let running = false;
  let source = null;

  function drawCharts(root) {
    if (!window.Plotly) return;
    root.querySelectorAll("figure[data-chart]").forEach(function (holder) {
      const spec = holder.querySelector("script[type='application/json']");
      const area = holder.querySelector(".chart-area");
      if (!spec || !area) return;
      const figure = JSON.parse(spec.textContent);
      window.Plotly.react(area, figure.data, figure.layout, {
        displaylogo: false,
        responsive: true,
      });
    });
  }

  function setState(state) {
    body.dataset.live = state;
  }

  async function refresh(region) {
    const response = await fetch(region.dataset.src, {
      credentials: "same-origin",
      cache: "no-store",
      headers: { Accept: "text/html" },
    });
    if (response.status === 401) {
      window.location.assign("/login?next=" + encodeURIComponent(location.pathname + location.search));
      return;
    }
    if (!response.ok) {
      region.classList.add("stale");
      return;
    }
    region.innerHTML = await response.text();
    region.classList.remove("stale");
    region.dataset.refreshed = String(Date.now());
    drawCharts(region);
  }

  async function pump() {
    if (running) return;
    running = true;
    try {
      while (pending.size) {
        const regions = Array.from(pending);
        pending.clear();
        await Promise.all(
          regions.map(function (region) {
            return refresh(region).catch(function () {
              region.classList.add("stale");
            });
          })
        );
      }
    } finally {
      running = false;
    }
  }

  function changed(parts) {
    document.querySelectorAll("[data-region]").forEach(function (region) {
      const wants = (region.dataset.parts || "").split(" ");
      if (parts.some(function (part) { return wants.indexOf(part) >= 0; })) pending.add(region);
    });
    pump();
  }

  function connect() {
    if (!body.dataset.events || !window.EventSource) return;
    const url = new URL(body.dataset.events, window.location.href);
    if (lastId) url.searchParams.set("since", lastId);
    source = new EventSource(url.toString());
    source.addEventListener("open", function () {
      setState("connected");
    });
    source.addEventListener("mode", function (event) {
      lastId = event.lastEventId || lastId;
      const mode = JSON.parse(event.data);
      if (status) {
        status.textContent = mode.description;
        status.dataset.mode = mode.mode;
      }
    });
    source.addEventListener("change", function (event) {
      lastId = event.lastEventId || lastId;
      changed(JSON.parse(event.data).parts);
    });
    source.addEventListener("error", function () {
      setState("reconnecting");
      if (source.readyState === EventSource.CLOSED) {
        // The browser gave up (an error status): start again with the last id we saw.
        source.close();
        window.setTimeout(connect, 2000);
      }
    });
  }

  window.addEventListener("pagehide", function () {
    if (source) source.close();
  });
  drawCharts(document);
  connect();
})();
