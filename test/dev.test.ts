/**
 * src/dev: a real local nats-server for development, started on demand.
 */
import { describe, expect, it } from "vitest";
import { connect } from "../src/connect/index.js";
import { ensureNats, NatsServerNotFoundError, startLocalServer } from "../src/dev/index.js";
import { acceptsTcp, NATS_SERVER_INSTALL_HINT } from "../src/internal.js";
import { closedPort, natsFixture, stopAfterEach } from "./support/helpers.js";

const track = stopAfterEach();

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Connects, round-trips a PING, and closes. */
async function reachable(url: string): Promise<boolean> {
  const mesh = await connect({ servers: url, env: {} });
  await mesh.nc.flush();
  await mesh.close();
  return true;
}

describe("dev - behaviour: startLocalServer", () => {
  it("dev - starts a nats-server a client can connect to; stop() kills it", async () => {
    const server = track(await startLocalServer());
    expect(server.url).toBe(`nats://127.0.0.1:${server.port}`);
    expect(server.port).not.toBe(4222);
    expect(await reachable(server.url)).toBe(true);
    await server.stop();
    await server.stop(); // idempotent
    expect(isAlive(server.pid)).toBe(false);
    expect(await acceptsTcp("127.0.0.1", server.port, 300)).toBe(false);
    await expect(server.exited).resolves.toBeDefined();
  });

  it("dev - listens on the port asked for, and reports a port in use", async () => {
    const port = await closedPort();
    await using server = await startLocalServer({ port });
    expect(server.port).toBe(port);
    const err = await startLocalServer({ port }).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(
      new RegExp(
        `^127\\.0\\.0\\.1:${port} is in use: nats-server exited with code \\d+ before it was ready$`,
      ),
    );
    expect((err as { addressInUse?: string }).addressInUse).toBe(`127.0.0.1:${port}`);
  });

  it("dev - a missing binary (NATS_SERVER_BIN=/nonexistent) says how to install nats-server", async () => {
    const err = await startLocalServer({ env: { ...process.env, NATS_SERVER_BIN: "/nonexistent" } }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(NatsServerNotFoundError);
    expect((err as Error).message).toBe(
      "nats-server not found: install it with `apt-get install -y nats-server` (Debian/Ubuntu), " +
        "`brew install nats-server`, or see https://docs.nats.io/running-a-nats-service/introduction/installation" +
        " (NATS_SERVER_BIN=/nonexistent is not an executable file)",
    );
    await expect(startLocalServer({ bin: "/nonexistent/nats-server" })).rejects.toThrow(
      NATS_SERVER_INSTALL_HINT,
    );
  });
});

describe("dev - behaviour: ensureNats", () => {
  it("dev - uses a server that answers, without starting one", async () => {
    await using nats = await natsFixture({}, { connect: false });
    const { server } = nats;
    const fromOption = await ensureNats({ url: server.url });
    expect(fromOption).toMatchObject({ url: server.url, started: false, server: undefined });
    await fromOption.stop(); // no-op
    expect(await reachable(server.url)).toBe(true);
    const fromEnv = await ensureNats({ env: { NATS_URL: server.url } });
    expect(fromEnv).toMatchObject({ url: server.url, started: false });
  });

  it("dev - starts a local server when nothing listens at the URL", async () => {
    const port = await closedPort();
    const nats = track(await ensureNats({ url: `nats://127.0.0.1:${port}` }));
    expect(nats.started).toBe(true);
    expect(nats.url).toMatch(/^nats:\/\/127\.0\.0\.1:\d+$/);
    expect(nats.url).not.toBe(`nats://127.0.0.1:${port}`);
    expect(await reachable(nats.url)).toBe(true);
    await nats.stop();
    expect(isAlive(nats.server!.pid)).toBe(false);
  });

  it("dev - reports the missing binary when it must start a server", async () => {
    const port = await closedPort();
    await expect(
      ensureNats({ url: `127.0.0.1:${port}`, env: { NATS_SERVER_BIN: "/nonexistent" } }),
    ).rejects.toThrow(/^nats-server not found: install it with/);
  });
});
