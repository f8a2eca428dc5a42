// The three charts of the last minutes (uPlot), one series per service.
import uPlot from "/assets/uPlot.esm.js";

const COLORS = ["#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#4b5563"];
const KEEP = 300;

const METRICS = [
  { id: "chart-rate", read: (p) => p.rate },
  { id: "chart-p99", read: (p) => (p.p99 === null ? null : p.p99 * 1000) },
  { id: "chart-saturation", read: (p) => p.saturation * 100 },
];

/** Time series per service, aligned on the aggregator's ticks, drawn in three uPlot charts. */
export class Charts {
  #times = [];
  /** service → array of points (or null) aligned with #times. */
  #points = new Map();
  #plots = [];
  #services = "";

  /** Starts from the history the server kept: service → [{ t, rate, p99, saturation, ... }]. */
  load(history) {
    const times = new Set();
    for (const points of Object.values(history)) for (const p of points) times.add(p.t);
    this.#times = [...times].sort((a, b) => a - b).slice(-KEEP);
    const index = new Map(this.#times.map((t, i) => [t, i]));
    this.#points = new Map();
    for (const [service, points] of Object.entries(history)) {
      const row = new Array(this.#times.length).fill(null);
      for (const p of points) if (index.has(p.t)) row[index.get(p.t)] = p;
      this.#points.set(service, row);
    }
    this.#draw();
  }

  /** Adds the picture of one tick. */
  add(view) {
    this.#times.push(view.at);
    const seen = new Set();
    for (const s of view.services) {
      seen.add(s.service);
      if (!this.#points.has(s.service))
        this.#points.set(s.service, new Array(this.#times.length - 1).fill(null));
      this.#points.get(s.service).push(s);
    }
    for (const [service, row] of this.#points) {
      if (!seen.has(service)) row.push(null);
      if (row.every((p) => p === null)) this.#points.delete(service);
    }
    if (this.#times.length > KEEP) {
      const drop = this.#times.length - KEEP;
      this.#times.splice(0, drop);
      for (const row of this.#points.values()) row.splice(0, drop);
    }
    this.#draw();
  }

  #draw() {
    const services = [...this.#points.keys()].sort();
    const key = services.join("\n");
    const xs = this.#times.map((t) => t / 1000);
    if (key !== this.#services) {
      for (const plot of this.#plots) plot.destroy();
      this.#plots = [];
      this.#services = key;
    }
    METRICS.forEach((metric, m) => {
      const data = [
        xs,
        ...services.map((s) => this.#points.get(s).map((p) => (p === null ? null : metric.read(p)))),
      ];
      if (this.#plots[m]) {
        this.#plots[m].setData(data);
        return;
      }
      const el = document.getElementById(metric.id);
      const width = Math.max(240, el.clientWidth || 320);
      this.#plots[m] = new uPlot(
        {
          width,
          height: 160,
          legend: { show: services.length > 0 },
          scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(1, max ?? 1) * 1.1] } },
          axes: [{}, { size: 50 }],
          series: [
            {},
            ...services.map((s, i) => ({
              label: s,
              stroke: COLORS[i % COLORS.length],
              width: 1.5,
              spanGaps: false,
            })),
          ],
        },
        data,
        el,
      );
    });
  }
}
