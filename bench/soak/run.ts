/**
 * `npm run soak -- --minutes N`: a chaos run anyone can repeat (RELIABILITY.md).
 *
 * A 3-node nats-server cluster, service instances as child processes, the natsmesh gateway in front,
 * closed-loop load through it, and node SIGKILLs, instance SIGKILLs, a rolling restart and a frozen
 * instance on a schedule. natsmesh runs as users run it: dist/ (tsc's build, rebuilt first when
 * src/ is newer), loaded by `bin/natsmesh gateway` and by the instances' import of dist/index.js; only
 * the soak's own scripts go through tsx. Exit status: 0 when every enforced target is met, 1 when
 * not, 2 for a usage or set-up error.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { ensureBuilt } from "../../test/support/build.js";
import { countExecutions } from "./duplicates.js";
import { Fleet } from "./fleet.js";
import { startLoad } from "./load.js";
import { MemorySampler } from "./memory.js";
import { SoakCluster, SoakGateway } from "./mesh.js";
import { HELP, parseSoakArgs, SoakUsageError, scheduleFor } from "./options.js";
import { buildReport, formatReport } from "./report.js";
import { runSchedule } from "./scenarios.js";

const log = (line: string) => process.stderr.write(`soak: ${line}\n`);

async function main(argv: string[]): Promise<number> {
  let options: ReturnType<typeof parseSoakArgs>;
  try {
    options = parseSoakArgs(argv);
  } catch (err) {
    if (!(err instanceof SoakUsageError)) throw err;
    process.stderr.write(`soak: ${err.message}\n\n${HELP}\n`);
    return 2;
  }
  if (!options) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  const o = options;
  const command = `npm run soak --${argv.length ? ` ${argv.join(" ")}` : ""}`;
  log("building dist/ when src/ is newer ...");
  await ensureBuilt();
  const dir = mkdtempSync(join(tmpdir(), "natsmesh-soak-"));
  const loadBefore = loadavg()[0]!;
  const startedAt = new Date();
  // The run's clock; it is set to 0 again when the load starts (set-up times are negative).
  let t0 = performance.now();
  const clock = () => performance.now() - t0;

  const nodes = await SoakCluster.start(
    { ping: o.ping, jetstream: o.jetstream, writeDeadlineMs: o.writeDeadlineMs },
    clock,
  );
  let fleet: Fleet | undefined;
  let gateway: SoakGateway | undefined;
  let sampler: MemorySampler | undefined;
  let watchdog: NodeJS.Timeout | undefined;
  try {
    log(`cluster up (${nodes.urls.join(", ")}); starting ${o.instances} instances and the gateway`);
    fleet = new Fleet(o.instances, {
      natsUrls: nodes.urls,
      dir,
      env: o.instanceEnv,
      serveOptions: o.serveOptions,
      clock,
    });
    const f = fleet;
    // Interrupted (Ctrl-C, a test's timeout), the soak takes its children with it; the test
    // harness stops the nats-servers the same way.
    const killChildren = () => {
      f.killAllSync();
      gateway?.killSync();
    };
    process.once("exit", killChildren);
    for (const signal of ["SIGINT", "SIGTERM"] as const)
      process.once(signal, () => {
        killChildren();
        process.exit(130);
      });
    const [, gw] = await Promise.all([
      fleet.startAll(),
      SoakGateway.start(nodes.urls, dir, clock, options.eject),
    ]);
    gateway = gw;
    sampler = new MemorySampler(
      () => [
        ...nodes.pids(),
        ...f.pids(),
        { role: "gateway", pid: gw.pid },
        { role: "soak", pid: process.pid },
      ],
      clock,
    );
    watchdog = setInterval(() => {
      nodes.checkNodes().catch((err) => log(`a node could not be started again: ${err}`));
    }, 500);
    const events = o.events ?? scheduleFor(o.scenario);
    log(
      `load: ${o.loops} loops through ${gw.url}; ${o.seconds} s; events: ${o.events ? events.join(", ") : o.scenario}`,
    );
    t0 = performance.now();
    const wallAtZero = Date.now();
    const load = startLoad(gw.url, o.loops, o.mix, clock, o.loopsByKind);
    const endMs = o.seconds * 1000;
    await new Promise((r) => setTimeout(r, o.warmupSeconds * 1000));
    const records = await runSchedule(events, o.events !== undefined, o, { nodes, fleet, clock }, endMs);
    const tally = await load.stop();
    const durationMs = clock();
    sampler.stop();
    clearInterval(watchdog);
    await gateway.stop();
    await fleet.stopAll();
    const report = buildReport({
      options: o,
      command,
      startedAt,
      wallAtZero,
      durationMs,
      loadAverage: { before: loadBefore, after: loadavg()[0]! },
      tally,
      duplicates: countExecutions(fleet.execLogs),
      events: records,
      events_planned: records.map((e) => e.kind),
      instancesStarted: fleet.started,
      nodeRestarts: nodes.restarts,
      deaths: [...nodes.deaths, ...fleet.deaths, ...(gateway.death ? [gateway.death] : [])],
      memory: sampler.samples,
    });
    process.stdout.write(`${formatReport(report)}\n`);
    if (o.jsonFile) writeFileSync(o.jsonFile, `${JSON.stringify(report, null, 2)}\n`);
    if (report.pass) rmSync(dir, { recursive: true, force: true });
    else log(`logs and execution records kept in ${dir}`);
    return report.pass ? 0 : 1;
  } finally {
    clearInterval(watchdog);
    sampler?.stop();
    await gateway?.stop().catch(() => {});
    await fleet?.stopAll().catch(() => {});
    await nodes.stop();
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`soak: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(2);
  },
);
