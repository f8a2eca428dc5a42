// The mesh dashboard: one EventSource on /api/events; each update redraws the tables and moves the
// charts. Names from the mesh are set as text, never as HTML.
import { Charts } from "/assets/charts.js";
import * as fmt from "/assets/format.js";

const charts = new Charts();
const expanded = new Set();
let sortKey = "service";
let sortDesc = false;
let last;

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("data-")) node.setAttribute(k, v);
    else if (k === "title") node.title = v;
    else if (k === "colspan") node.colSpan = v;
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

/** A header row; the titles in `numeric` are right-aligned as their numbers. */
function head(titles, numeric) {
  return el(
    "thead",
    {},
    el("tr", {}, ...titles.map((h) => el("th", numeric.includes(h) ? { class: "num" } : {}, h))),
  );
}

function bar(share) {
  const fill = el("span", { class: `fill${share >= 0.9 ? " hot" : share >= 0.7 ? " warm" : ""}` });
  fill.style.width = `${Math.min(100, Math.max(0, share * 100))}%`;
  return el("span", { class: "bar" }, fill, el("span", { class: "label" }, fmt.pct(share)));
}

function plural(n, word) {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

function errorShare(x) {
  return x.rate > 0 ? x.errorRate / x.rate : 0;
}

const SORTS = {
  service: (s) => s.service,
  instances: (s) => s.instances.length,
  rate: (s) => s.rate,
  errors: (s) => errorShare(s),
  p50: (s) => s.p50 ?? -1,
  p99: (s) => s.p99 ?? -1,
  inFlight: (s) => s.inFlight,
  saturation: (s) => s.saturation,
  needed: (s) => s.needed,
  noResponders: (s) => s.noResponderRate,
  timeouts: (s) => s.timeoutRate + s.callerTimeoutRate,
};

function serviceRow(s) {
  const open = expanded.has(s.service);
  const row = el(
    "tr",
    { class: `service${open ? " open" : ""}`, "data-service": s.service },
    el("td", { "data-field": "service" }, el("span", { class: "caret" }, open ? "▾ " : "▸ "), s.service),
    el("td", { class: "num", "data-field": "instances" }, s.instances.length),
    el("td", { "data-field": "versions" }, s.versions.join(", ")),
    el("td", { class: "num", "data-field": "rate" }, fmt.rate(s.rate)),
    el(
      "td",
      { class: `num${s.errorRate > 0 ? " bad" : ""}`, "data-field": "errors" },
      fmt.pct(errorShare(s)),
    ),
    el(
      "td",
      { class: `num${s.noResponderRate > 0 ? " bad" : ""}`, "data-field": "noResponders" },
      fmt.rate(s.noResponderRate),
    ),
    el(
      "td",
      { class: `num${s.timeoutRate + s.callerTimeoutRate > 0 ? " bad" : ""}`, "data-field": "timeouts" },
      fmt.rate(s.timeoutRate + s.callerTimeoutRate),
    ),
    el("td", { class: "num", "data-field": "p50" }, fmt.ms(s.p50)),
    el("td", { class: "num", "data-field": "p99" }, fmt.ms(s.p99)),
    el("td", { class: "num", "data-field": "inFlight" }, `${fmt.count(s.inFlight)} / ${s.limit}`),
    el("td", { "data-field": "saturation" }, bar(s.saturation)),
    el("td", { class: "num", "data-field": "needed" }, s.needed),
  );
  row.addEventListener("click", () => {
    if (expanded.has(s.service)) expanded.delete(s.service);
    else expanded.add(s.service);
    render(last);
  });
  return row;
}

function detailRow(s) {
  const instances = el(
    "table",
    { class: "grid inner", "data-instances-of": s.service },
    head(
      [
        "Instance",
        "Version",
        "NATS server",
        "Cluster",
        "Uptime",
        "Req/s",
        "Errors",
        "p50",
        "p99",
        "In flight / limit",
        "Saturation",
        "Queue group",
      ],
      ["Uptime", "Req/s", "Errors", "p50", "p99", "In flight / limit"],
    ),
    el(
      "tbody",
      {},
      ...s.instances.map((i) =>
        el(
          "tr",
          { class: "instance", "data-instance": i.id },
          el("td", { class: "mono" }, i.id),
          el("td", {}, i.version),
          el("td", {}, i.server || "–"),
          el("td", {}, i.cluster || "–"),
          el("td", { class: "num" }, fmt.uptime(i.uptime)),
          el("td", { class: "num", "data-field": "rate" }, fmt.rate(i.rate)),
          el("td", { class: `num${i.errorRate > 0 ? " bad" : ""}` }, fmt.pct(errorShare(i))),
          el("td", { class: "num" }, fmt.ms(i.p50)),
          el("td", { class: "num" }, fmt.ms(i.p99)),
          el(
            "td",
            { class: "num" },
            `${fmt.count(i.inFlight)} / ${i.limit}${i.queued ? ` (+${i.queued} queued)` : ""}`,
          ),
          el("td", {}, bar(i.saturation)),
          el("td", { class: i.out ? "bad" : "muted" }, i.out ? "stepped out" : "in"),
        ),
      ),
    ),
  );
  const routes = el(
    "table",
    { class: "grid inner routes" },
    head(
      ["Method", "Req/s", "Errors", "Timeouts/s", "p50", "p99"],
      ["Req/s", "Errors", "Timeouts/s", "p50", "p99"],
    ),
    el(
      "tbody",
      {},
      ...s.routes.map((r) =>
        el(
          "tr",
          {},
          el("td", { class: "mono" }, r.method),
          el("td", { class: "num" }, fmt.rate(r.rate)),
          el("td", { class: `num${r.errorRate > 0 ? " bad" : ""}` }, fmt.pct(errorShare(r))),
          el("td", { class: "num" }, fmt.rate(r.timeoutRate)),
          el("td", { class: "num" }, fmt.ms(r.p50)),
          el("td", { class: "num" }, fmt.ms(r.p99)),
        ),
      ),
    ),
  );
  return el("tr", { class: "detail" }, el("td", { colspan: 12 }, instances, routes));
}

function natsPanel(monitor) {
  const box = document.getElementById("nats");
  box.replaceChildren();
  if (!monitor.configured) {
    box.append(
      el(
        "p",
        { class: "muted", "data-monitor": "off" },
        "NATS monitoring is not configured: set NATS_MONITOR_URL (e.g. http://127.0.0.1:8222) to add the servers' facts.",
      ),
    );
    return;
  }
  if (monitor.servers.length === 0) {
    box.append(el("p", { class: "muted" }, "Reading the NATS monitoring endpoints…"));
    return;
  }
  const rows = monitor.servers.map((s) =>
    s.ok
      ? el(
          "tr",
          { "data-server": s.name },
          el("td", {}, s.name),
          el("td", {}, s.cluster || "–"),
          el("td", {}, s.version),
          el("td", { class: "num" }, s.connections),
          el("td", { class: `num${s.slowConsumers > 0 ? " bad" : ""}` }, s.slowConsumers),
          el("td", { class: "num" }, s.routes),
          el("td", {}, s.gateways.join(", ") || "–"),
          el("td", { class: "num" }, s.leafnodes),
          el("td", {}, s.uptime),
        )
      : el(
          "tr",
          { class: "bad", "data-monitor": "down" },
          el("td", { colspan: 9 }, `${s.url}: unavailable (${s.error})`),
        ),
  );
  box.append(
    el(
      "table",
      { class: "grid" },
      head(
        [
          "Server",
          "Cluster",
          "Version",
          "Connections",
          "Slow consumers",
          "Routes",
          "Gateways",
          "Leaf nodes",
          "Uptime",
        ],
        ["Connections", "Slow consumers", "Routes", "Leaf nodes", "Uptime"],
      ),
      el("tbody", {}, ...rows),
    ),
  );
}

function render(state) {
  if (!state) return;
  last = state;
  const { view, monitor } = state;
  document.getElementById("empty").hidden = view.services.length > 0;
  document.getElementById("charts").hidden = view.services.length === 0;
  const instances = view.services.reduce((n, s) => n + s.instances.length, 0);
  document.getElementById("summary").textContent =
    `${plural(view.services.length, "service")} · ${plural(instances, "instance")} · window ${view.window}s · target ${fmt.pct(view.target)} · ${new Date(view.at).toLocaleTimeString()}`;
  const key = SORTS[sortKey] ?? SORTS.service;
  const services = [...view.services].sort((a, b) => {
    const x = key(a);
    const y = key(b);
    const c = typeof x === "string" ? x.localeCompare(y) : x - y;
    return sortDesc ? -c : c;
  });
  if (expanded.size === 0 && services.length > 0 && services.length <= 3 && !render.touched) {
    for (const s of services) expanded.add(s.service);
    render.touched = true;
  }
  const body = document.querySelector("#services tbody");
  body.replaceChildren(
    ...services.flatMap((s) => (expanded.has(s.service) ? [serviceRow(s), detailRow(s)] : [serviceRow(s)])),
  );
  natsPanel(monitor);
}

function setStatus(kind, text) {
  const status = document.getElementById("status");
  status.className = `status ${kind}`;
  status.dataset.status = kind;
  status.textContent = text;
}

for (const th of document.querySelectorAll("#services th[data-sort]")) {
  th.addEventListener("click", () => {
    const k = th.dataset.sort;
    sortDesc = sortKey === k ? !sortDesc : k !== "service";
    sortKey = k;
    render(last);
  });
}

const source = new EventSource("/api/events");
source.addEventListener("init", (e) => {
  const state = JSON.parse(e.data);
  charts.load(state.history);
  render(state);
  setStatus("live", "live");
});
source.addEventListener("update", (e) => {
  const state = JSON.parse(e.data);
  charts.add(state.view);
  render(state);
  setStatus("live", "live");
});
source.addEventListener("error", () => setStatus("down", "reconnecting…"));
