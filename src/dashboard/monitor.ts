/**
 * The NATS servers' own facts from their monitoring endpoints (`NATS_MONITOR_URL`, e.g.
 * `http://127.0.0.1:8222`, comma-separated for several): connections, slow consumers, routes,
 * gateways. Fetched at most every few seconds, and only while someone looks.
 *
 * @module
 */

/** One server's facts, or why they are missing. */
export type ServerFacts =
  | {
      url: string;
      ok: true;
      name: string;
      version: string;
      cluster: string;
      connections: number;
      slowConsumers: number;
      routes: number;
      leafnodes: number;
      gateways: string[];
      inMsgs: number;
      outMsgs: number;
      mem: number;
      cpu: number;
      uptime: string;
    }
  | { url: string; ok: false; error: string };

/** What the dashboard shows of the NATS servers. */
export interface MonitorFacts {
  /** Whether a monitoring URL is configured. */
  configured: boolean;
  servers: ServerFacts[];
}

const num = (x: unknown): number => (typeof x === "number" && Number.isFinite(x) ? x : 0);
const str = (x: unknown): string => (typeof x === "string" ? x.slice(0, 200) : "");

async function getJson(url: string, timeout: number): Promise<Record<string, unknown>> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeout) });
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return (await res.json()) as Record<string, unknown>;
}

async function factsOf(base: string, timeout: number): Promise<ServerFacts> {
  const url = base.replace(/\/+$/, "");
  try {
    const [varz, gatewayz] = await Promise.all([
      getJson(`${url}/varz`, timeout),
      getJson(`${url}/gatewayz`, timeout).catch(() => ({}) as Record<string, unknown>),
    ]);
    const cluster = (varz.cluster ?? {}) as Record<string, unknown>;
    const outbound = (gatewayz.outbound_gateways ?? {}) as Record<string, unknown>;
    return {
      url,
      ok: true,
      name: str(varz.server_name) || str(varz.server_id),
      version: str(varz.version),
      cluster: str(cluster.name),
      connections: num(varz.connections),
      slowConsumers: num(varz.slow_consumers),
      routes: num(varz.routes),
      leafnodes: num(varz.leafnodes),
      gateways: Object.keys(outbound).slice(0, 100).sort(),
      inMsgs: num(varz.in_msgs),
      outMsgs: num(varz.out_msgs),
      mem: num(varz.mem),
      cpu: num(varz.cpu),
      uptime: str(varz.uptime),
    };
  } catch (err) {
    const reason =
      err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err);
    return { url, ok: false, error: reason };
  }
}

/**
 * Reads the monitoring endpoints, caching the answer for `maxAge` ms.
 */
export class NatsMonitor {
  readonly #urls: string[];
  readonly #maxAge: number;
  readonly #timeout: number;
  #last: MonitorFacts;
  #at = Number.NEGATIVE_INFINITY;
  #pending: Promise<MonitorFacts> | undefined;

  /**
   * @param urls - monitoring base URLs (`http://host:8222`); none for "not configured"
   * @param maxAge - ms a reading is reused (default 3000)
   * @param timeout - ms one endpoint may take (default 1500)
   * @throws TypeError for a URL that is not http(s)
   */
  constructor(urls: readonly string[], maxAge = 3000, timeout = 1500) {
    for (const u of urls) {
      const parsed = URL.canParse(u) ? new URL(u) : undefined;
      if (parsed?.protocol !== "http:" && parsed?.protocol !== "https:")
        throw new TypeError(
          `NATS monitoring URL must be an http(s) URL, e.g. http://127.0.0.1:8222: got '${u}'`,
        );
    }
    this.#urls = [...urls];
    this.#maxAge = maxAge;
    this.#timeout = timeout;
    this.#last = { configured: urls.length > 0, servers: [] };
  }

  /** The last reading (maybe stale); starts a new one when it is older than `maxAge`. */
  latest(): MonitorFacts {
    void this.read();
    return this.#last;
  }

  /** A reading no older than `maxAge`. */
  read(): Promise<MonitorFacts> {
    if (this.#urls.length === 0) return Promise.resolve(this.#last);
    if (performance.now() - this.#at < this.#maxAge) return Promise.resolve(this.#last);
    this.#pending ??= Promise.all(this.#urls.map((u) => factsOf(u, this.#timeout))).then((servers) => {
      this.#last = { configured: true, servers };
      this.#at = performance.now();
      this.#pending = undefined;
      return this.#last;
    });
    return this.#pending;
  }
}

/**
 * The monitoring URLs of `NATS_MONITOR_URL` (comma-separated).
 *
 * @param env - the environment
 */
export function monitorUrlsFrom(env: NodeJS.ProcessEnv): string[] {
  return (env.NATS_MONITOR_URL ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
}
