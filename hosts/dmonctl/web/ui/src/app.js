// The dmon page: hosts, a host's charts, a metric explorer. No framework: a hash router, the
// JSON API (docs/http-api.md) and uPlot. Every view keeps its state in the URL, so a view
// can be shared: #/host/web-1?range=1h, #/explore?metric=...&from=...&until=...
"use strict";
(function () {
  const PRESETS = [["15m", 15 * 60e3], ["1h", 3600e3], ["6h", 6 * 3600e3], ["24h", 24 * 3600e3],
    ["7d", 7 * 24 * 3600e3]];
  const PALETTE = ["#2f6fed", "#e8590c", "#2b8a3e", "#c2255c", "#7048e8", "#0b7285", "#e67700",
    "#5c940d", "#a61e4d", "#364fc7", "#087f5b", "#d9480f"];
  const main = document.getElementById("main");
  const banner = document.getElementById("banner");
  let charts = [];           // the current view's charts: { plot, box, title, query, options, keys }
  let refreshTimer = null;
  let refreshMs = 10e3;      // the hosts' interval, from /api/v1/hosts
  let renderId = 0;          // a view started later wins over a slow earlier one

  // ---- units: the same rules as dmonctl's tables (hosts/dmonctl/units.cpp) ----
  function significant(v) {
    const m = Math.abs(v);
    if (m !== 0 && m < 1) return String(Number(v.toPrecision(3)));
    return v.toFixed(m === 0 || m >= 100 ? 0 : m >= 10 ? 1 : 2);
  }
  function scaled(v, base, prefixes, suffix) {
    let i = 0;
    while (i + 1 < prefixes.length && Math.abs(v) >= base) { v /= base; i++; }
    return (significant(v) + " " + prefixes[i] + suffix).trim();
  }
  // `short`: an axis label, whose chart's title names the counted thing.
  function formatValue(v, unit, perSecond, short) {
    if (v === null || v === undefined || Number.isNaN(v)) return "–";
    const rate = perSecond ? "/s" : "";
    if (unit === "s" && perSecond) return significant(v * 100) + " %";  // s/s: a share of a CPU
    if (unit === "By") return scaled(v, 1024, ["", "Ki", "Mi", "Gi", "Ti", "Pi"], "B" + rate);
    if (unit === "1" && !perSecond) return significant(v * 100) + " %";
    if (unit === "s" && !perSecond) {
      const m = Math.abs(v);
      if (m !== 0 && m < 1e-3) return significant(v * 1e6) + " µs";
      if (m !== 0 && m < 1) return significant(v * 1e3) + " ms";
      return significant(v) + " s";
    }
    let suffix = "";
    if (unit && unit.startsWith("{") && unit.endsWith("}") && !short) suffix = " " + unit.slice(1, -1);
    return scaled(v, 1000, ["", "k", "M", "G", "T", "P"], "") + suffix + rate;
  }
  function ago(ms) {
    const s = Math.max(0, Math.round(ms / 1000));
    if (s < 120) return s + " s ago";
    if (s < 7200) return Math.round(s / 60) + " min ago";
    if (s < 172800) return Math.round(s / 3600) + " h ago";
    return Math.round(s / 86400) + " d ago";
  }
  function zoneText() {
    const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "local";
    const offset = -new Date().getTimezoneOffset();
    const sign = offset >= 0 ? "+" : "-";
    const a = Math.abs(offset);
    return `times in ${zone} (UTC${sign}${String(Math.floor(a / 60)).padStart(2, "0")}:${String(a % 60).padStart(2, "0")})`;
  }
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") node.className = v; else if (k === "text") node.textContent = v;
      else node.setAttribute(k, v);
    }
    for (const child of children) if (child) node.append(child);
    return node;
  }

  // ---- the URL: #/path?query ----
  function route() {
    const hash = location.hash.replace(/^#/, "") || "/";
    const q = hash.indexOf("?");
    return { path: q < 0 ? hash : hash.slice(0, q), params: new URLSearchParams(q < 0 ? "" : hash.slice(q + 1)) };
  }
  function go(path, params) {
    const text = params.toString();
    location.hash = "#" + path + (text ? "?" + text : "");
  }
  // The time range: a preset relative to now (range=1h, refreshed) or fixed from/until (ms).
  function timeRange(params) {
    const from = Number(params.get("from")), until = Number(params.get("until"));
    if (from > 0 && until > from) return { from, until, fixed: true };
    const preset = PRESETS.find(([name]) => name === params.get("range")) || PRESETS[1];
    const now = Date.now();
    return { from: now - preset[1], until: now, fixed: false, preset: preset[0] };
  }
  function setRange(fromMs, untilMs) {
    const { path, params } = route();
    params.delete("range");
    params.set("from", String(Math.round(fromMs)));
    params.set("until", String(Math.round(untilMs)));
    go(path, params);
  }
  function setPreset(name) {
    const { path, params } = route();
    params.delete("from"); params.delete("until");
    params.set("range", name);
    go(path, params);
  }
  function localInput(ms) {
    const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60e3);
    return d.toISOString().slice(0, 19);
  }

  // ---- the API ----
  async function api(path, params) {
    const url = "/api/v1/" + path + (params ? "?" + params.toString() : "");
    const response = await fetch(url, { credentials: "same-origin" });
    if (response.status === 401) { location.href = "/login"; throw new Error("login needed"); }
    const body = await response.json();
    if (!response.ok) throw new Error(body.error || response.statusText);
    return body;
  }
  function showError(error) {
    banner.hidden = false;
    banner.textContent = String(error.message || error);
  }

  // ---- charts ----
  function destroyCharts() { charts.forEach((c) => c.plot && c.plot.destroy()); charts = []; }
  const seriesKeys = (series) => series.map((s) => s.host + JSON.stringify(s.labels)).join("|");
  function chartWidth(box) { return Math.max(300, Math.floor(box.clientWidth - 20)); }
  function seriesLabel(labels, host, withHost) {
    const text = Object.entries(labels).map(([k, v]) => `${k}=${v}`).join(",");
    return withHost ? host + (text ? " " + text : "") : text || host;
  }
  // One chart: a title, and one uPlot of the API's /points answer. `pick` keeps some series.
  async function drawChart(box, title, query, options) {
    options = options || {};
    const heading = el("h2", { text: title });
    box.replaceChildren(heading);
    const width = chartWidth(box);
    query.set("points", String(width));
    const data = await api("points", query);
    let series = data.series;
    if (options.pick) series = series.filter(options.pick);
    const chart = { plot: null, box, title, query, options, keys: seriesKeys(series) };
    charts.push(chart);
    if (series.length === 0 || series.every((s) => s.mean.every((v) => v === null))) {
      box.append(el("div", { class: "empty", text: "no data in this range" }));
      return chart;
    }
    const perSecond = data.rate;
    const t = data.t.map((ms) => ms / 1000);
    const withHost = new Set(series.map((s) => s.host)).size > 1;
    const plot = new uPlot({
      width, height: 220,
      cursor: { drag: { x: true, y: false } },
      scales: { x: { time: true } },
      legend: { live: true },
      axes: [{}, { size: 80, values: (u, ticks) => ticks.map((v) => formatValue(v, data.unit, perSecond, true)) }],
      series: [{}, ...series.map((s, i) => ({
        label: options.label ? options.label(s) : seriesLabel(s.labels, s.host, withHost),
        stroke: PALETTE[i % PALETTE.length],
        width: options.bold && options.bold(s) ? 2.5 : 1.25,
        value: (u, v) => formatValue(v, data.unit, perSecond),
        spanGaps: false,
      }))],
      hooks: {
        setSelect: [(u) => {
          if (u.select.width < 5) return;
          const from = u.posToVal(u.select.left, "x") * 1000;
          const until = u.posToVal(u.select.left + u.select.width, "x") * 1000;
          setRange(from, until);
        }],
      },
    }, [t, ...series.map((s) => s.mean)], box);
    chart.plot = plot;
    return chart;
  }

  // A refresh of the same view: each chart asks for the range as it is now and, when its
  // series are the same, takes the new points in place (no flicker, the legend stays);
  // otherwise it is drawn again.
  async function refreshCharts(params) {
    const range = timeRange(params);
    const current = charts;
    await Promise.all(current.map(async (chart) => {
      chart.query.set("from", String(Math.round(range.from)));
      chart.query.set("until", String(Math.round(range.until)));
      const data = await api("points", chart.query);
      const series = chart.options.pick ? data.series.filter(chart.options.pick) : data.series;
      if (chart.plot && seriesKeys(series) === chart.keys) {
        chart.plot.setData([data.t.map((ms) => ms / 1000), ...series.map((s) => s.mean)]);
      } else {
        if (chart.plot) chart.plot.destroy();
        charts = charts.filter((c) => c !== chart);
        await drawChart(chart.box, chart.title, chart.query, chart.options);
      }
    }));
  }

  // ---- views ----
  // The last 15 minutes of CPU, one value per bucket of the overview's shared grid.
  function sparkline(values, stale) {
    const canvas = el("canvas", { class: "spark", width: "120", height: "24" });
    const ctx = canvas.getContext("2d");
    if (values.filter((x) => x !== null).length > 1) {
      ctx.strokeStyle = stale ? "#98a2b3" : "#2f6fed";
      ctx.lineWidth = 1.5;
      ctx.beginPath();
      let drawing = false;
      values.forEach((v, i) => {
        if (v === null) { drawing = false; return; }
        const x = (i / Math.max(1, values.length - 1)) * 118 + 1;
        const y = 23 - Math.min(1, Math.max(0, v)) * 22;
        drawing ? ctx.lineTo(x, y) : ctx.moveTo(x, y);
        drawing = true;
      });
      ctx.stroke();
    }
    return canvas;
  }

  // Columns of the hosts table: heading, cell text, sort value (null: sorts last).
  const HOST_COLUMNS = [
    ["host", null, (h) => h.host],
    ["CPU (15 min)", null, (h) => (h.stale ? null : h.cpu)],
    ["memory used", (h) => (h.memory.used !== null && h.memory.limit
      ? `${formatValue(h.memory.used, "By")} (${significant((h.memory.used / h.memory.limit) * 100)} %)`
      : formatValue(h.memory.used, "By")), (h) => (h.stale ? null : h.memory.used)],
    ["disk read", (h) => formatValue(h.disk.read, "By", true), (h) => (h.stale ? null : h.disk.read)],
    ["disk write", (h) => formatValue(h.disk.write, "By", true), (h) => (h.stale ? null : h.disk.write)],
    ["net receive", (h) => formatValue(h.network.receive, "By", true), (h) => (h.stale ? null : h.network.receive)],
    ["net transmit", (h) => formatValue(h.network.transmit, "By", true), (h) => (h.stale ? null : h.network.transmit)],
    ["last seen", null, (h) => -h.last_seen],
  ];

  // The hosts: a filter on the name and a sort by any column, both in the URL (#/?q=web&sort=cpu
  // or sort=-cpu); the heading and the filter stay while the table refreshes, so typing is not
  // interrupted.
  async function overviewView(id, params) {
    const data = await api("overview", new URLSearchParams({ points: "60" }));
    if (id !== renderId) return;
    if (data.hosts.length) refreshMs = Math.min(60e3, Math.max(1e3, Math.min(...data.hosts.map((h) => h.interval * 1000))));
    let frame = main.querySelector("#overview");
    if (!frame) {
      const filter = el("input", { id: "filter", type: "search", placeholder: "filter hosts", value: params.get("q") || "" });
      frame = el("div", { id: "overview" }, el("div", { class: "explore-form" }, el("h1", { id: "hosts-title" }), filter), el("div", { id: "hosts-table" }));
      main.replaceChildren(frame);
      filter.addEventListener("input", () => {
        const { path, params: now } = route();
        if (filter.value) now.set("q", filter.value); else now.delete("q");
        history.replaceState(null, "", "#" + path + (now.toString() ? "?" + now : ""));
        drawHostsTable(frame._data);
      });
    }
    frame._data = data;
    drawHostsTable(data);
  }

  function drawHostsTable(data) {
    const { params } = route();
    const q = (params.get("q") || "").toLowerCase();
    const sort = params.get("sort") || "host";
    const descending = sort.startsWith("-");
    const column = HOST_COLUMNS.findIndex(([name]) => name.split(" ")[0].toLowerCase() === sort.replace(/^-/, "")) ;
    const key = HOST_COLUMNS[Math.max(0, column)][2];
    const hosts = data.hosts.filter((h) => h.host.toLowerCase().includes(q));
    hosts.sort((a, b) => {
      const x = key(a), y = key(b);
      if (x === null || y === null) return x === y ? 0 : x === null ? 1 : -1;
      const order = x < y ? -1 : x > y ? 1 : 0;
      return descending ? -order : order;
    });
    const rows = hosts.map((h) => {
      const link = el("a", { href: "#/host/" + encodeURIComponent(h.host), text: h.host });
      const status = el("span", { class: "badge " + (h.stale ? "stale" : "ok"), text: h.stale ? "stale" : "ok" });
      const cpu = el("td", {}, h.stale ? "–" : formatValue(h.cpu, "1"), sparkline(h.cpu_recent, h.stale));
      const tr = el("tr", { class: h.stale ? "stale" : "" }, el("td", {}, link, status), cpu,
        ...HOST_COLUMNS.slice(2, 7).map(([, text]) => el("td", { text: h.stale ? "–" : text(h) })),
        el("td", { text: ago(data.now - h.last_seen) }));
      tr.dataset.host = h.host;
      return tr;
    });
    const head = el("tr", {}, ...HOST_COLUMNS.map(([name], i) => {
      const id = name.split(" ")[0].toLowerCase();
      const th = el("th", { text: name + (i === Math.max(0, column) ? (descending ? " ▼" : " ▲") : ""), "data-sort": id, title: "sort" });
      th.addEventListener("click", () => {
        const { path, params: now } = route();
        now.set("sort", sort === id ? "-" + id : id);
        history.replaceState(null, "", "#" + path + "?" + now);
        drawHostsTable(data);
      });
      return th;
    }));
    const stale = data.hosts.filter((h) => h.stale).length;
    document.getElementById("hosts-title").textContent =
      `Hosts (${data.hosts.length}${stale ? `, ${stale} stale` : ""}${q ? `, ${hosts.length} shown` : ""})`;
    document.getElementById("hosts-table").replaceChildren(data.hosts.length
      ? el("table", { class: "hosts", id: "hosts" }, el("thead", {}, head), el("tbody", {}, ...rows))
      : el("p", { class: "muted", text: "No host has sent samples yet." }));
  }

  const HOST_CHARTS = [
    { title: "CPU utilisation (all CPUs)", metric: "system.cpu.utilization", label: ["cpu=total"] },
    { title: "CPU utilisation per CPU", metric: "system.cpu.utilization", pick: (s) => s.labels.cpu !== "total", label: (s) => "cpu " + s.labels.cpu },
    { title: "Memory by state", metric: "system.memory.usage", label: (s) => s.labels.state },
    { title: "Disk bytes/s", metric: "system.disk.io", rate: true },
    { title: "Disk operations/s", metric: "system.disk.operations", rate: true },
    { title: "Network bytes/s", metric: "system.network.io", rate: true },
    { title: "Network errors/s", metric: "system.network.errors", rate: true },
    { title: "dmon: samples dropped/s", metric: "dmon.sink.dropped", rate: true },
    { title: "dmon: undelivered samples", metric: "dmon.sink.queued", label: (s) => `${s.labels.sink || s.labels.instance || ""} ${s.labels.unit || ""}`.trim() },
    { title: "dmon: CPU of the dmon process", metric: "process.cpu.time", rate: true, label: (s) => s.labels.state },
    { title: "dmon: memory of the dmon process", metric: "process.memory.usage" },
  ];

  async function hostView(id, host, params) {
    const range = timeRange(params);
    const known = await api("metrics", new URLSearchParams({ host }));
    if (id !== renderId) return;
    const names = new Set(known.metrics.map((m) => m.name));
    const grid = el("div", { class: "charts" });
    main.replaceChildren(el("h1", { text: host }), grid);
    const hosts = await api("hosts");
    const me = hosts.hosts.find((h) => h.host === host);
    if (me) {
      refreshMs = Math.min(60e3, Math.max(1e3, me.interval * 1000));
      main.querySelector("h1").append(el("span", { class: "badge " + (me.stale ? "stale" : "ok"), text: me.stale ? "stale: last seen " + ago(hosts.now - me.last_seen) : "reporting every " + me.interval.toFixed(1) + " s" }));
    }
    const jobs = [];
    for (const chart of HOST_CHARTS) {
      if (!names.has(chart.metric)) continue;
      const box = el("div", { class: "chart", "data-metric": chart.metric });
      grid.append(box);
      const query = new URLSearchParams({ metric: chart.metric, host, from: String(Math.round(range.from)), until: String(Math.round(range.until)) });
      if (chart.rate) query.set("rate", "true");
      for (const label of chart.label instanceof Array ? chart.label : []) query.append("label", label);
      jobs.push(drawChart(box, chart.title, query, {
        pick: chart.pick,
        label: typeof chart.label === "function" ? chart.label : (s) => seriesLabel(s.labels, s.host, false),
      }).catch((e) => { box.append(el("div", { class: "empty", text: e.message })); }));
    }
    if (!jobs.length) grid.append(el("p", { class: "muted", text: "No samples of this host." }));
    await Promise.all(jobs);
  }

  async function exploreView(id, params) {
    const range = timeRange(params);
    const [metrics, hosts] = await Promise.all([api("metrics"), api("hosts")]);
    if (id !== renderId) return;
    const metric = params.get("metric") || "";
    const metricSelect = el("select", { id: "metric" }, el("option", { value: "", text: "choose a metric" }),
      ...metrics.metrics.map((m) => el("option", { value: m.name, text: `${m.name} (${m.type})` })));
    metricSelect.value = metric;
    const hostSelect = el("select", { id: "host" }, el("option", { value: "", text: "every host" }),
      ...hosts.hosts.map((h) => el("option", { value: h.host, text: h.host })));
    hostSelect.value = params.get("host") || "";
    const labels = el("input", { id: "labels", placeholder: "cpu=total,device=sda", value: params.getAll("label").join(",") });
    const info = metrics.metrics.find((m) => m.name === metric);
    const rate = el("input", { type: "checkbox", id: "rate" });
    rate.checked = params.get("rate") === "true";
    rate.disabled = !info || info.type !== "counter";
    const show = el("button", { type: "button", text: "Show" });
    const box = el("div", { class: "chart" });
    const form = el("form", { class: "explore-form" },
      el("label", {}, "metric", metricSelect), el("label", {}, "host", hostSelect),
      el("label", {}, "labels (key=value, comma-separated)", labels),
      el("label", {}, "rate per second", rate), show);
    const apply = () => {
      const next = new URLSearchParams();
      for (const key of ["range", "from", "until"]) if (params.get(key)) next.set(key, params.get(key));
      if (metricSelect.value) next.set("metric", metricSelect.value);
      if (hostSelect.value) next.set("host", hostSelect.value);
      for (const part of labels.value.split(",").map((x) => x.trim()).filter(Boolean)) next.append("label", part);
      const chosen = metrics.metrics.find((m) => m.name === metricSelect.value);
      if (rate.checked && chosen && chosen.type === "counter") next.set("rate", "true");
      go("/explore", next);
    };
    show.addEventListener("click", apply);
    metricSelect.addEventListener("change", apply);
    form.addEventListener("submit", (e) => { e.preventDefault(); apply(); });
    main.replaceChildren(el("h1", { text: "Explore" }), form, box);
    if (!metric) { box.append(el("div", { class: "empty", text: "Choose a metric." })); return; }
    const query = new URLSearchParams({ metric, from: String(Math.round(range.from)), until: String(Math.round(range.until)) });
    if (hostSelect.value) query.set("host", hostSelect.value);
    for (const label of params.getAll("label")) query.append("label", label);
    if (rate.checked && !rate.disabled) query.set("rate", "true");
    await drawChart(box, metric + (info ? ` (${info.type}${rate.checked && !rate.disabled ? ", per second" : ""})` : ""), query);
  }

  // ---- the frame: range picker, navigation, refresh ----
  function drawPicker(params) {
    const range = timeRange(params);
    // Made once; a refresh only moves the highlight (a button drawn again under the pointer
    // could swallow a click).
    const presets = document.getElementById("presets");
    if (!presets.children.length) {
      presets.replaceChildren(...PRESETS.map(([name]) => {
        const b = el("button", { type: "button", text: name, "data-range": name });
        b.addEventListener("click", () => setPreset(name));
        return b;
      }));
    }
    for (const b of presets.children) b.classList.toggle("active", !range.fixed && range.preset === b.dataset.range);
    document.getElementById("from").value = localInput(range.from);
    document.getElementById("until").value = localInput(range.until);
    document.getElementById("zone").textContent = zoneText();
  }
  document.getElementById("apply").addEventListener("click", () => {
    const from = new Date(document.getElementById("from").value).getTime();
    const until = new Date(document.getElementById("until").value).getTime();
    if (!(from < until)) { showError(new Error("from must be before to")); return; }
    setRange(from, until);
  });

  async function render() {
    const id = ++renderId;
    clearTimeout(refreshTimer);
    const { path, params } = route();
    drawPicker(params);
    for (const a of document.querySelectorAll("nav a")) a.classList.toggle("active", a.dataset.nav === (path.startsWith("/explore") ? "explore" : "overview"));
    try {
      destroyCharts();
      if (path.startsWith("/host/")) await hostView(id, decodeURIComponent(path.slice(6)), params);
      else if (path.startsWith("/explore")) await exploreView(id, params);
      else await overviewView(id, params);
      if (id === renderId) banner.hidden = true;
    } catch (error) {
      if (id === renderId) showError(error);
    }
    if (id !== renderId) return;
    schedule(id, path, params);
  }

  // A relative range follows now, at the hosts' own interval, but no faster than a chart's
  // bucket moves (a 24 h chart of 650 pixels: every 2 min); a fixed one stays put. The hosts
  // table is drawn again; charts take their new points in place.
  function schedule(id, path, params) {
    const range = timeRange(params);
    const charted = path.startsWith("/host/") || path.startsWith("/explore");
    if (charted) refreshMs = Math.min(60e3, Math.max(refreshMs, (range.until - range.from) / 800));
    document.getElementById("footer").textContent = `updated ${new Date().toLocaleTimeString()} · ${zoneText()}` +
      (charted && range.fixed ? " · fixed range, not refreshed" : ` · refreshed every ${Math.round(refreshMs / 1000)} s`);
    if (charted && range.fixed) return;
    refreshTimer = setTimeout(async () => {
      if (id !== renderId) return;
      if (!charted) { render(); return; }
      drawPicker(params);
      try {
        await refreshCharts(params);
        if (id === renderId) banner.hidden = true;
      } catch (error) {
        if (id === renderId) showError(error);
      }
      if (id === renderId) schedule(id, path, params);
    }, refreshMs);
  }
  window.addEventListener("hashchange", render);
  render();
})();
