/**
 * What the tests that run `natsmesh gateway` as a child process share: a nats-server, an `echo`
 * service on it, a temporary HOME, and an environment for the child without the runner's NATS_*
 * variables.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type ServiceHandle, serve } from "../../src/index.js";
import { fetchApp } from "./apps.js";
import { ensureBuilt } from "./build.js";
import { type NatsServerFixture, natsFixture, silentLogger } from "./helpers.js";
import type { NatsServer } from "./nats-server.js";

/** The running pieces; stop them with {@link stopGatewayCliEnv}. */
export interface GatewayCliEnv {
  /** Owns the nats-server (no connection of its own). */
  nats: NatsServerFixture;
  /** `nats.server`: the one the child and the `echo` service connect to. */
  server: NatsServer;
  echo: ServiceHandle;
  /** The temporary directory: the child's HOME. */
  tmp: string;
  /** The child's environment. */
  childEnv: NodeJS.ProcessEnv;
}

/**
 * Builds dist/ if needed (call it in a `beforeAll` with `BUILD_TIMEOUT_MS`), starts a nats-server and the `echo` service (fetchApp) on it.
 *
 * @param name - part of the temporary directory's name
 * @param logLevel - the child's NATSMESH_LOG_LEVEL
 */
export async function startGatewayCliEnv(name: string, logLevel: string): Promise<GatewayCliEnv> {
  const tmp = await mkdtemp(join(tmpdir(), `natsmesh-test-${name}-`));
  const [, nats] = await Promise.all([ensureBuilt(), natsFixture({}, { connect: false })]);
  const { server } = nats;
  const echo = await serve(fetchApp("echo"), {
    service: "echo",
    connection: { servers: server.url },
    logger: silentLogger,
  });
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("NATS_")));
  const childEnv = { ...clean, HOME: tmp, XDG_CONFIG_HOME: join(tmp, "xdg"), NATSMESH_LOG_LEVEL: logLevel };
  return { nats, server, echo, tmp, childEnv };
}

/** Stops what {@link startGatewayCliEnv} started (whatever of it did start). */
export async function stopGatewayCliEnv(env: Partial<GatewayCliEnv>): Promise<void> {
  await env.echo?.stop();
  await env.nats?.[Symbol.asyncDispose]();
  if (env.tmp) await rm(env.tmp, { recursive: true, force: true });
}
