/**
 * The soak's NATS side and front door: a 3-node nats-server cluster on free loopback ports (the
 * test harness's real servers, never the machine's 4222 one) and the `natsmesh gateway` command
 * (bin/natsmesh, i.e. dist/) as a child process in front of the service `soak`.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createWriteStream, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { check, cluster, type NatsCluster, type ServerConfig } from "../../test/support/nats-server.js";
import type { UnexpectedDeath } from "./fleet.js";

/** The part of nats-server's `/jsz` the start waits on. */
interface Jsz {
  meta_cluster?: { leader?: string; cluster_size?: number };
}

const BIN = fileURLToPath(new URL("../../bin/natsmesh", import.meta.url));

/** nats-server settings of every node. */
export interface NodeSettings {
  /** `ping_interval` in seconds and `ping_max`; undefined leaves nats-server's defaults (2 min, 2). */
  ping: { intervalSeconds: number; max: number } | undefined;
  jetstream: boolean;
  /** `write_deadline` in ms; undefined leaves nats-server's default (10 s). */
  writeDeadlineMs?: number | undefined;
}

/** The config every node gets (the harness adds listen ports and routes). */
export function nodeConfig({ ping, jetstream, writeDeadlineMs }: NodeSettings): ServerConfig {
  return {
    ...(ping && { ping_interval: `${ping.intervalSeconds}s`, ping_max: ping.max }),
    ...(writeDeadlineMs !== undefined && { write_deadline: `${writeDeadlineMs}ms` }),
    // Each node runs in its own directory (the harness's cwd), so a relative store is per node.
    ...(jetstream && { jetstream: { store_dir: "jetstream" } }),
  };
}

/** The cluster with the soak's bookkeeping: which node is down on purpose, which died. */
export class SoakCluster {
  private readonly down = new Set<number>();
  /** Nodes found dead without the soak having killed them. */
  readonly deaths: UnexpectedDeath[] = [];
  /** Node restarts done by the soak. */
  restarts = 0;

  private constructor(
    readonly nodes: NatsCluster,
    private readonly clock: () => number,
  ) {}

  /**
   * Starts 3 routed nodes and waits for the full mesh of routes. With JetStream, nats-server refuses
   * to start a node whose config names no route, and the harness learns the route ports only once
   * the nodes run: so the cluster starts without JetStream, then each node is restarted with it
   * (its config now names every other node), and the start waits for a JetStream meta leader.
   */
  static async start(settings: NodeSettings, clock: () => number): Promise<SoakCluster> {
    const nodes = await cluster(3, nodeConfig({ ...settings, jetstream: false }), { name: "soak" });
    if (settings.jetstream) {
      try {
        for (const node of nodes.servers) {
          await node.setConfig(nodeConfig(settings));
          await node.restart();
          await nodes.waitForMesh(30_000);
        }
        await check(
          async () => {
            const all = await Promise.all(nodes.servers.map((n) => n.monitor<Jsz>("/jsz")));
            return all.every(
              (j) => (j.meta_cluster?.leader ?? "") !== "" && (j.meta_cluster?.cluster_size ?? 0) >= 3,
            );
          },
          30_000,
          { name: "soak: a JetStream meta leader known to every node" },
        );
      } catch (err) {
        await nodes.stop();
        throw err;
      }
    }
    return new SoakCluster(nodes, clock);
  }

  /** Client URLs of all nodes. */
  get urls(): string[] {
    return this.nodes.urls;
  }

  /** Roles and pids, for the memory sampler. */
  pids(): Array<{ role: string; pid: number | undefined }> {
    return this.nodes.servers.map((s, i) => ({ role: `nats-${i + 1}`, pid: s.running ? s.pid : undefined }));
  }

  /** SIGKILLs node `i`, keeps it down for `downMs`, starts it again and waits for the full mesh. */
  async kill(i: number, downMs: number): Promise<void> {
    const index = i % this.nodes.servers.length;
    const node = this.nodes.servers[index]!;
    this.down.add(index);
    try {
      await node.kill("SIGKILL");
      await new Promise((r) => setTimeout(r, downMs));
      await node.restart();
      this.restarts++;
      await this.nodes.waitForMesh(30_000);
    } finally {
      this.down.delete(index);
    }
  }

  /** True when node `i` runs. */
  isRunning(i: number): boolean {
    return this.nodes.servers[i % this.nodes.servers.length]!.running;
  }

  /** Records (once) and restarts any node that is down without the soak having killed it. */
  async checkNodes(): Promise<void> {
    for (const [index, node] of this.nodes.servers.entries()) {
      if (node.running || this.down.has(index)) continue;
      this.down.add(index);
      this.deaths.push({ role: `nats-${index + 1}`, pid: node.pid, exit: "exited", atMs: this.clock() });
      try {
        await node.restart();
      } finally {
        this.down.delete(index);
      }
    }
  }

  /** Stops every node. */
  stop(): Promise<void> {
    return this.nodes.stop();
  }
}

/** The gateway child process. */
export class SoakGateway {
  /** Set when it exited without the soak stopping it. */
  death: UnexpectedDeath | undefined;
  private stopping = false;
  private readonly exited: Promise<void>;

  private constructor(
    private readonly child: ChildProcess,
    /** `http://127.0.0.1:PORT` */
    readonly url: string,
    clock: () => number,
  ) {
    this.exited = new Promise((resolve) => {
      const onExit = (code: number | null, signal: NodeJS.Signals | null) => {
        if (!this.stopping)
          this.death = { role: "gateway", pid: child.pid ?? -1, exit: signal ?? String(code), atMs: clock() };
        resolve();
      };
      if (child.exitCode !== null || child.signalCode !== null) onExit(child.exitCode, child.signalCode);
      else child.once("exit", onExit);
    });
  }

  /**
   * Runs `natsmesh gateway --listen 127.0.0.1:0 -s <urls>` (default rule: `/soak/...` goes to service
   * `soak`), logging to `dir/gateway.log` at warn level, and waits for its `listening on` line.
   */
  static async start(urls: string[], dir: string, clock: () => number, eject = true): Promise<SoakGateway> {
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("NATS_")));
    const args = [BIN, "gateway", "--listen", "127.0.0.1:0", "-s", urls.join(",")];
    if (!eject) {
      const file = join(dir, "gateway.json");
      writeFileSync(file, JSON.stringify({ eject: false }));
      args.push("--config", file);
    }
    const child = spawn(process.execPath, args, {
      env: { ...env, NATSMESH_LOG_LEVEL: "warn" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const log = createWriteStream(join(dir, "gateway.log"));
    child.stdout!.pipe(log, { end: false });
    const url = await new Promise<string>((resolve, reject) => {
      let err = "";
      const timer = setTimeout(() => reject(new Error(`gateway not listening after 60 s: ${err}`)), 60_000);
      child.stderr!.on("data", (c: Buffer) => {
        log.write(c);
        err += c.toString();
        const m = /listening on (http:\/\/\S+)/.exec(err);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      });
      child.once("exit", (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`gateway exited (${signal ?? code}) before listening: ${err}`));
      });
    });
    return new SoakGateway(child, url, clock);
  }

  /** Its pid while it runs. */
  get pid(): number | undefined {
    return this.child.exitCode === null && this.child.signalCode === null ? this.child.pid : undefined;
  }

  /** SIGKILLs it at once, e.g. when the soak itself is interrupted. */
  killSync(): void {
    this.stopping = true;
    if (this.pid !== undefined) this.child.kill("SIGKILL");
  }

  /** SIGTERM (it drains) and waits for its exit; SIGKILL after 15 s. */
  async stop(): Promise<void> {
    this.stopping = this.death === undefined;
    if (this.pid === undefined) return;
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 15_000);
    this.child.kill("SIGTERM");
    await this.exited;
    clearTimeout(timer);
  }
}
