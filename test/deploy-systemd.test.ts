/**
 * examples/systemd (docs/DEPLOY.md): the unit files parse, their stop timeouts cover what the
 * processes take to stop, the NATS node configuration is one nats-server accepts (`nats-server -t`),
 * and the ExecStart lines of the service instance and the gateway run — with the environment the
 * units name — against a 3-node TLS test cluster: an HTTPS call through the gateway reaches the
 * instance, and both stop cleanly on their KillSignal.
 *
 * What the test changes, and only that: absolute paths point into the checkout and a temporary
 * directory (certificates it generates), NATS_URL names the test nodes, the gateway listens on free
 * loopback ports with one worker and no drain delay, and NATS_NKEY is left out (the test nodes have
 * no users; nkey logins are tested in test/connect.test.ts).
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { Agent, fetch } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { DEFAULT_STOP_TIMEOUT } from "../src/server/service-instance.js";
import { BUILD_TIMEOUT_MS, ensureBuilt } from "./support/build.js";
import {
  type CertFiles,
  check,
  cluster,
  generateCerts,
  type NatsCluster,
  REPO_ROOT,
  tlsConfig,
} from "./support/nats-server.js";
import { all, one, parseEnv, parseUnit, seconds, type Unit } from "./support/systemd-unit.js";

const DIR = join(REPO_ROOT, "examples", "systemd");

async function unit(name: string): Promise<Unit> {
  return parseUnit(await readFile(join(DIR, name), "utf8"));
}

describe("deploy - examples/systemd", () => {
  let tmp: string;
  let certs: CertFiles;
  let nodes: NatsCluster | undefined;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), "natsmesh-test-systemd-"));
    [certs] = await Promise.all([generateCerts(join(tmp, "certs")), ensureBuilt()]);
  }, BUILD_TIMEOUT_MS);

  afterAll(async () => {
    for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
    await nodes?.stop();
    await rm(tmp, { recursive: true, force: true });
  });

  it("deploy - every unit has what systemd needs, and its stop timeout covers the process's own", async () => {
    for (const name of ["nats-server.service", "natsmesh-gateway.service", "weather@.service"]) {
      const u = await unit(name);
      expect([...u.keys()], name).toEqual(["Unit", "Service", "Install"]);
      expect(one(u, "Service", "ExecStart"), name).toMatch(/^\/\S+/);
      expect(one(u, "Service", "Restart"), name).toBe("on-failure");
      expect(one(u, "Install", "WantedBy"), name).toBe("multi-user.target");
      for (const file of all(u, "Service", "EnvironmentFile")) {
        parseEnv(await readFile(join(DIR, file.split("/").at(-1)!), "utf8")); // shipped beside it, and readable
      }
    }
    const nats = await unit("nats-server.service");
    const conf = await readFile(join(DIR, "nats-server.conf"), "utf8");
    const lameDuck = ["lame_duck_duration", "lame_duck_grace_period"].map((k) =>
      seconds(new RegExp(`^${k}: "(\\w+)"`, "m").exec(conf)![1]!),
    );
    expect(one(nats, "Service", "KillSignal")).toBe("SIGUSR2"); // lame duck mode
    expect(seconds(one(nats, "Service", "TimeoutStopSec"))).toBeGreaterThan(lameDuck[0]! + lameDuck[1]!);
    const weather = await unit("weather@.service");
    expect(one(weather, "Service", "KillSignal")).toBe("SIGTERM");
    expect(seconds(one(weather, "Service", "TimeoutStopSec")) * 1000).toBeGreaterThan(DEFAULT_STOP_TIMEOUT);
    const gateway = await unit("natsmesh-gateway.service");
    const limits = (
      parseYaml(await readFile(join(DIR, "gateway.yaml"), "utf8")) as { limits: Record<string, number> }
    ).limits;
    expect(one(gateway, "Service", "KillSignal")).toBe("SIGTERM");
    expect(seconds(one(gateway, "Service", "TimeoutStopSec")) * 1000).toBeGreaterThan(
      limits.drainDelay! + limits.shutdownTimeout!,
    );
  });

  it("deploy - the node configuration passes nats-server -t with the name from node.env", async () => {
    const nats = await unit("nats-server.service");
    const [bin, ...args] = one(nats, "Service", "ExecStart").split(/\s+/);
    const conf = (await readFile(join(DIR, "nats-server.conf"), "utf8"))
      .replaceAll(/\/etc\/nats\/certs\/[a-z]+-key\.pem/g, certs.serverKey)
      .replaceAll(/\/etc\/nats\/certs\/ca\.pem/g, certs.ca)
      .replaceAll(/\/etc\/nats\/certs\/[a-z]+\.pem/g, certs.serverCert);
    await writeFile(join(tmp, "nats-server.conf"), conf);
    const env = parseEnv(await readFile(join(DIR, "node.env"), "utf8"));
    const testArgs = args.map((a) =>
      a === "/etc/nats/nats-server.conf" ? join(tmp, "nats-server.conf") : a,
    );
    expect(bin).toBe("/usr/sbin/nats-server");
    const { stdout, stderr } = await promisify(execFile)("nats-server", [...testArgs, "-t"], {
      env: { ...process.env, ...env },
    });
    expect(stdout + stderr).toMatch(/configuration file .* is valid/);
  });

  it("deploy - the instance and the gateway start from their ExecStart lines and answer over HTTPS", async () => {
    nodes = await cluster(3, tlsConfig(certs));
    const gatewayYaml = (await readFile(join(DIR, "gateway.yaml"), "utf8"))
      .replace("/etc/natsmesh/tls/gateway.pem", certs.serverCert)
      .replace("/etc/natsmesh/tls/gateway-key.pem", certs.serverKey);
    await writeFile(join(tmp, "gateway.yaml"), gatewayYaml);
    const paths: Array<[string, string]> = [
      ["/usr/bin/node", process.execPath],
      ["/opt/natsmesh/node_modules/natsmesh/", `${REPO_ROOT}/`],
      ["/opt/natsmesh", tmp],
      ["/opt/weather/", `${DIR}/`],
      ["/opt/weather", DIR],
      ["/etc/natsmesh/gateway.yaml", join(tmp, "gateway.yaml")],
      ["/etc/natsmesh/ca.pem", certs.ca],
    ];
    const local = (value: string) =>
      paths.reduce((v, [from, to]) => (v.startsWith(from) ? to + v.slice(from.length) : v), value);
    const mesh = parseEnv(await readFile(join(DIR, "mesh.env"), "utf8"));
    const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("NATS_")));

    const start = async (
      name: string,
      extra: string[],
    ): Promise<{ child: ChildProcess; output: () => string }> => {
      const u = await unit(name);
      const env: Record<string, string | undefined> = { ...base, HOME: tmp };
      for (const [key, value] of Object.entries({ ...mesh, ...parseEnv(all(u, "Service", "Environment")) }))
        env[key] = local(value);
      expect(env.NATS_CA).toBe(certs.ca);
      env.NATS_URL = nodes!.servers.map((s) => `tls://127.0.0.1:${s.port}`).join(",");
      delete env.NATS_NKEY;
      const [bin, ...args] = one(u, "Service", "ExecStart").split(/\s+/).map(local);
      const child = spawn(bin!, [...args, ...extra], {
        cwd: local(one(u, "Service", "WorkingDirectory")),
        env,
      });
      children.push(child);
      let out = "";
      child.stdout!.on("data", (d: Buffer) => (out += d));
      child.stderr!.on("data", (d: Buffer) => (out += d));
      return { child, output: () => out };
    };

    const instance = await start("weather@.service", []);
    const gateway = await start("natsmesh-gateway.service", [
      ...["--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--workers", "1", "--drain-delay", "0"],
    ]);
    const [, url, admin] = (await check(
      () => /listening on (https:\/\/\S+) \(admin (http:\/\/\S+)\)/.exec(gateway.output()),
      20_000,
      { name: "the gateway listens" },
    ))!;
    const dispatcher = new Agent({ connect: { ca: await readFile(certs.ca) } });
    try {
      // The instance connects while the gateway starts: its answer is the sign it serves.
      const res = await check(
        async () => {
          const r = await fetch(`${url}/api/weather/city?q=london`, { dispatcher });
          return r.status === 200 ? r : undefined;
        },
        20_000,
        { name: "weather answers through the gateway" },
      );
      expect(await res!.json()).toEqual({ city: "london" });
      expect((await fetch(`${url}/weather/city?q=london`, { dispatcher })).status).toBe(404); // defaultRoute: false
      expect((await fetch(`${admin}/readyz`)).status).toBe(200);
    } finally {
      await dispatcher.close();
    }

    for (const p of [gateway, instance]) p.child.kill("SIGTERM");
    const exits = await Promise.all([gateway, instance].map((p) => once(p.child, "exit")));
    expect(exits, gateway.output() + instance.output()).toEqual([
      [0, null],
      [0, null],
    ]);
  });
});
