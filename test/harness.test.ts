import { existsSync } from "node:fs";
import path from "node:path";
import { createUser } from "@nats-io/nkeys";
import {
  type ConnectionOptions,
  connect,
  type Msg,
  type NatsConnection,
  nkeyAuthenticator,
  type Subscription,
} from "@nats-io/transport-node";
import { describe, expect, it } from "vitest";
import { stopAfterEach } from "./support/helpers.js";
import {
  check,
  cluster,
  createExpiredClientCert,
  createWrongCaClientCert,
  NatsServer,
  nkeyServer,
  PID_DIR,
  raw,
  superCluster,
  tlsServer,
  toConf,
  tokenServer,
  userPassServer,
} from "./support/nats-server.js";

const track = stopAfterEach();

async function conn(opts: ConnectionOptions): Promise<NatsConnection> {
  return track(await connect({ timeout: 3000, ...opts }));
}

/** Resolves with the next message of `sub` (rejects after timeoutMs). */
async function nextMsg(sub: Subscription, timeoutMs = 3000): Promise<Msg> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      (async () => {
        for await (const m of sub) return m;
        throw new Error("subscription closed");
      })(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no message on ${sub.getSubject()}`)), timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function echo(nc: NatsConnection, subject: string): Subscription {
  return nc.subscribe(subject, {
    callback: (err, m) => {
      if (!err) m.respond(m.data);
    },
  });
}

describe("harness", () => {
  it("harness - toConf renders nested blocks, arrays, quoted strings and raw values", () => {
    const text = toConf({
      port: 4333,
      debug: true,
      server_name: 'a "b"',
      max_pending: raw("64MB"),
      mappings: { "orders.*": "x.{{wildcard(1)}}" },
      authorization: { users: [{ user: "u", password: "p" }, { nkey: "UABC" }] },
      routes: [],
      skipped: undefined,
    });
    expect(text).toBe(
      [
        "port: 4333",
        "debug: true",
        'server_name: "a \\"b\\""',
        "max_pending: 64MB",
        "mappings {",
        '  "orders.*": "x.{{wildcard(1)}}"',
        "}",
        "authorization {",
        "  users: [",
        "    {",
        '      user: "u"',
        '      password: "p"',
        "    },",
        "    {",
        '      nkey: "UABC"',
        "    }",
        "  ]",
        "}",
        "routes: []",
        "",
      ].join("\n"),
    );
  });

  it("harness - check polls until truthy and reports name and last error on timeout", async () => {
    let n = 0;
    await expect(check(() => ++n >= 3, 1000)).resolves.toBe(true);
    await expect(
      check(
        () => {
          throw new Error("boom");
        },
        100,
        { name: "never" },
      ),
    ).rejects.toThrow(/"never".*boom/);
  });

  it("harness - single server starts, client connects and pub/subs, pid file and dir are cleaned", async () => {
    const s = track(await NatsServer.start());
    expect(s.port).not.toBe(4222);
    expect(s.url).toBe(`nats://127.0.0.1:${s.port}`);
    expect(s.hostport).toBe(`127.0.0.1:${s.port}`);
    expect(existsSync(path.join(PID_DIR, `${s.pid}.json`))).toBe(true);
    expect(existsSync(s.configPath)).toBe(true);

    const nc = await conn({ servers: s.url });
    const sub = nc.subscribe("harness.single");
    nc.publish("harness.single", "hello");
    expect((await nextMsg(sub)).string()).toBe("hello");

    const varz = await s.varz();
    expect(varz.port).toBe(s.port);
    expect(varz.server_name).toBe(s.name);
    expect((await s.connz()).num_connections).toBe(1);
    expect((await s.subsz()).num_subscriptions).toBeGreaterThanOrEqual(1);

    await nc.close();
    const pid = s.pid;
    await s.stop();
    expect(s.running).toBe(false);
    expect(existsSync(path.join(PID_DIR, `${pid}.json`))).toBe(false);
    expect(existsSync(s.dir)).toBe(false);
  });

  it("harness - start failure reports the server log", async () => {
    await expect(NatsServer.start({ no_such_option_xyz: 1 })).rejects.toThrow(/no_such_option_xyz/);
  });

  it("harness - kill + restart on the same ports; a reconnecting client reconnects", async () => {
    const s = track(await NatsServer.start());
    const { port, monitorPort } = s;
    const nc = await conn({ servers: s.url, maxReconnectAttempts: -1, reconnectTimeWait: 50 });
    echo(nc, "harness.restart");
    await nc.flush();
    const reconnected = (async () => {
      for await (const st of nc.status()) if (st.type === "reconnect") return true;
      return false;
    })();

    const oldPid = s.pid;
    await s.kill();
    expect(s.running).toBe(false);
    await s.restart();
    expect(s.pid).not.toBe(oldPid);
    expect(s.port).toBe(port);
    expect(s.monitorPort).toBe(monitorPort);
    expect((await s.varz()).port).toBe(port);

    await expect(reconnected).resolves.toBe(true);
    const reply = await check(() => nc.request("harness.restart", "again", { timeout: 500 }), 5000, {
      name: "request after reconnect",
    });
    expect(reply.string()).toBe("again");
    // the restarted process runs with the pinned ports in its config, so reload still works
    await s.reload({ max_payload: 4096 });
    expect((await s.varz()).max_payload).toBe(4096);
  });

  it("harness - 3-node cluster: routes formed, message published on A reaches subscriber on C", async () => {
    const c = track(await cluster(3));
    expect(c.servers).toHaveLength(3);
    expect(c.urls).toHaveLength(3);
    for (const s of c.servers) {
      expect((await s.routez()).num_routes).toBe(2);
      const routes = (s.config.cluster as { routes: string[] }).routes;
      expect(routes).toHaveLength(2);
    }
    const [a, , cNode] = c.servers;
    const ncA = await conn({ servers: a!.url });
    const ncC = await conn({ servers: cNode!.url });
    const sub = ncC.subscribe("harness.cluster");
    await ncC.flush();
    await check(
      async () =>
        (await a!.routez({ subs: 1 })).routes?.some((r) =>
          (r.subscriptions_list as string[] | undefined)?.includes("harness.cluster"),
        ),
      5000,
      { name: "interest propagated to A" },
    );
    ncA.publish("harness.cluster", "from A");
    expect((await nextMsg(sub)).string()).toBe("from A");

    // a node restarted on its own rejoins the full mesh (its config has routes to all others)
    await a!.restart();
    await c.waitForMesh();
  });

  it("harness - super-cluster east/west: subscriber in west gets a request from east", async () => {
    const sc = track(await superCluster());
    expect(Object.keys(sc.clusters).sort()).toEqual(["east", "west"]);
    expect(sc.servers).toHaveLength(4);
    const east = sc.clusters.east!.servers[0]!;
    const west = sc.clusters.west!.servers[1]!;
    const gw = await west.gatewayz();
    expect(Object.keys(gw.outbound_gateways ?? {})).toContain("east");

    const ncWest = await conn({ servers: west.url });
    const ncEast = await conn({ servers: east.url });
    echo(ncWest, "harness.sc");
    await ncWest.flush();
    const reply = await check(() => ncEast.request("harness.sc", "ping", { timeout: 500 }), 10_000, {
      name: "request east -> west",
    });
    expect(reply.string()).toBe("ping");
  });

  it("harness - TLS server: client with CA connects, client without CA fails", async () => {
    const t = await tlsServer();
    track(t.server);
    expect(existsSync(t.ca) && existsSync(t.serverCert) && existsSync(t.clientKey)).toBe(true);
    const nc = await conn({ servers: t.server.url, tls: { caFile: t.ca } });
    expect(nc.info?.tls_required).toBe(true);
    await nc.flush();
    await expect(connect({ servers: t.server.url, timeout: 2000 })).rejects.toThrow();
    await expect(connect({ servers: t.server.url, timeout: 2000, tls: {} })).rejects.toThrow();
  });

  it("harness - TLS verify: client cert required; expired and wrong-CA certs rejected", async () => {
    const t = await tlsServer({ verify: true });
    track(t.server);
    const nc = await conn({
      servers: t.server.url,
      tls: { caFile: t.ca, certFile: t.clientCert, keyFile: t.clientKey },
    });
    await nc.flush();
    // the server rejects these during the handshake; the client only notices at its connect timeout,
    // so run them in parallel
    const [expired, rogue] = await Promise.all([createExpiredClientCert(t), createWrongCaClientCert(t.dir)]);
    const attempts = [
      { caFile: t.ca },
      { caFile: t.ca, certFile: expired.cert, keyFile: expired.key },
      { caFile: t.ca, certFile: rogue.cert, keyFile: rogue.key },
    ].map((tls) => connect({ servers: t.server.url, timeout: 1500, tls }));
    const results = await Promise.allSettled(attempts);
    for (const r of results) {
      if (r.status === "fulfilled") await r.value.close();
      expect(r.status).toBe("rejected");
    }
    const log = await t.server.logTail(20);
    expect(log).toMatch(/didn't provide a certificate/);
    expect(log).toMatch(/expired/);
    expect(log).toMatch(/unknown authority/);
  });

  it("harness - user/pass, token and nkey servers accept right and reject wrong credentials", async () => {
    const [up, tok, nk] = await Promise.all([
      userPassServer("alice", "s3cret"),
      tokenServer("t0ken"),
      nkeyServer(),
    ]);
    track(up);
    track(tok);
    track(nk.server);

    await (await conn({ servers: up.url, user: "alice", pass: "s3cret" })).flush();
    await expect(connect({ servers: up.url, user: "alice", pass: "nope" })).rejects.toThrow(/auth/i);
    await expect(connect({ servers: up.url })).rejects.toThrow(/auth/i);

    await (await conn({ servers: tok.url, token: "t0ken" })).flush();
    await expect(connect({ servers: tok.url, token: "wrong" })).rejects.toThrow(/auth/i);

    const enc = new TextEncoder();
    expect(nk.publicKey).toMatch(/^U/);
    await (
      await conn({ servers: nk.server.url, authenticator: nkeyAuthenticator(enc.encode(nk.seed)) })
    ).flush();
    const other = createUser().getSeed();
    await expect(
      connect({ servers: nk.server.url, authenticator: nkeyAuthenticator(other) }),
    ).rejects.toThrow(/auth/i);
  });

  it("harness - config: max_payload is reflected in nc.info", async () => {
    const s = track(await NatsServer.start({ max_payload: 65536 }));
    const nc = await conn({ servers: s.url });
    expect(nc.info?.max_payload).toBe(65536);
  });

  it("harness - config: mappings rewrite subjects", async () => {
    const s = track(await NatsServer.start({ mappings: { "orders.*": "orders.mapped.{{wildcard(1)}}" } }));
    const nc = await conn({ servers: s.url });
    const sub = nc.subscribe("orders.mapped.>");
    nc.publish("orders.42", "o");
    expect((await nextMsg(sub)).subject).toBe("orders.mapped.42");
  });

  it("harness - config: accounts with a service export/import", async () => {
    const s = track(
      await NatsServer.start({
        accounts: {
          A: { users: [{ user: "a", password: "a" }], exports: [{ service: "svc.>" }] },
          B: {
            users: [{ user: "b", password: "b" }],
            imports: [{ service: { account: "A", subject: "svc.>" } }],
          },
        },
      }),
    );
    const ncA = await conn({ servers: s.url, user: "a", pass: "a" });
    const ncB = await conn({ servers: s.url, user: "b", pass: "b" });
    echo(ncA, "svc.echo");
    await ncA.flush();
    expect((await ncB.request("svc.echo", "x", { timeout: 2000 })).string()).toBe("x");
    // not exported the other way round
    echo(ncB, "private.echo");
    await ncB.flush();
    await expect(ncA.request("private.echo", "x", { timeout: 500 })).rejects.toThrow();
  });

  it("harness - reload() applies a new mapping on the same ports; bad reloads fail with the log", async () => {
    const s = track(await NatsServer.start({ mappings: { old: "target.one" } }));
    const { port } = s;
    const nc = await conn({ servers: s.url });
    const one = nc.subscribe("target.one");
    const two = nc.subscribe("target.two");
    await nc.flush();
    nc.publish("old", "1");
    expect((await nextMsg(one)).string()).toBe("1");

    await s.reload({ mappings: { old: "target.two" } });
    expect(s.port).toBe(port);
    expect(s.config.mappings).toEqual({ old: "target.two" });
    nc.publish("old", "2");
    expect((await nextMsg(two)).string()).toBe("2");

    // adding a cluster block cannot be reloaded
    await expect(s.reload({ cluster: { name: "nope" } })).rejects.toThrow(/reload/i);
  });
});
