import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { isAbsolute, join } from "node:path";
import { createUser } from "@nats-io/nkeys";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ConfigError,
  ConnectError,
  connect,
  type Env,
  type MeshConnectOptions,
  resolveOptions,
} from "../src/connect/index.js";
import { natsFixture } from "./support/helpers.js";

type AuthFn = (nonce?: string) => Record<string, unknown> | undefined;

let tmp: string;
/** An environment that can never pick up the machine's natscli context or NATS_* variables. */
let baseEnv: Env;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), "natsmesh-connect-"));
  baseEnv = { HOME: join(tmp, "home"), XDG_CONFIG_HOME: join(tmp, "xdg-empty") };
});

afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

async function file(name: string, content: string): Promise<string> {
  const path = isAbsolute(name) ? name : join(tmp, name);
  await mkdir(join(path, ".."), { recursive: true });
  await writeFile(path, content);
  return path;
}

async function writeContext(xdg: string, name: string, data: Record<string, string>): Promise<string> {
  return file(join(xdg, "nats", "context", `${name}.json`), JSON.stringify(data));
}

function resolve(env: Env, options: MeshConnectOptions = {}) {
  return resolveOptions({ ...options, env: { ...baseEnv, ...env } });
}

async function configError(promise: Promise<unknown>): Promise<ConfigError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ConfigError);
  const config = err as ConfigError;
  expect(config.code).toBe("NM_ERR_CONFIG");
  expect(config.name).toBe("ConfigError");
  return config;
}

function seedOf(user = createUser()): { seed: string; publicKey: string } {
  return { seed: new TextDecoder().decode(user.getSeed()), publicKey: user.getPublicKey() };
}

const FAKE_JWT = "eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.eyJzdWIiOiJVQSJ9.c2ln";

function credsFile(seed: string): string {
  return [
    "-----BEGIN NATS USER JWT-----",
    FAKE_JWT,
    "------END NATS USER JWT------",
    "",
    "************************* IMPORTANT *************************",
    "NKEY Seed printed below can be used to sign and prove identity.",
    "",
    "-----BEGIN USER NKEY SEED-----",
    seed,
    "------END USER NKEY SEED------",
    "",
  ].join("\n");
}

describe("connect - behaviour: resolveOptions defaults and precedence", () => {
  it("applies natsmesh defaults when nothing is configured", async () => {
    const { connectOptions, prefix, source } = await resolve({});
    expect(connectOptions).toMatchObject({
      servers: ["127.0.0.1:4222"],
      name: "natsmesh",
      maxReconnectAttempts: -1,
      reconnectJitter: 100,
      noAsyncTraces: true,
    });
    expect(connectOptions.tls).toBeUndefined();
    expect(connectOptions.authenticator).toBeUndefined();
    expect(prefix).toBe("mesh");
    expect(source).toEqual({ context: null, settings: { servers: "default", prefix: "default" } });
  });

  it("does not leak mesh-only options into the nats.js options, and passes others through", async () => {
    const { connectOptions } = await resolve(
      { NATS_URL: "nats://127.0.0.1:4300" },
      { name: "svc", maxReconnectAttempts: 3, prefix: "p", timeout: 500 },
    );
    expect(connectOptions).toMatchObject({ name: "svc", maxReconnectAttempts: 3, timeout: 500 });
    for (const key of ["env", "prefix", "creds", "nkey", "cert", "key", "ca", "context"]) {
      expect(connectOptions).not.toHaveProperty(key);
    }
  });

  it("explicit options beat NATS_* variables, which beat the natscli context", async () => {
    const xdg = join(tmp, "xdg-precedence");
    await writeContext(xdg, "layers", {
      url: "nats://ctx:4222",
      user: "ctx-user",
      password: "ctx-pass",
      token: "ctx-token",
      inbox_prefix: "_INBOX_ctx",
      description: "ignored",
    });
    const env = {
      XDG_CONFIG_HOME: xdg,
      NATS_CONTEXT: "layers",
      NATS_URL: "nats://env:4222",
      NATS_USER: "env-user",
      NATS_PREFIX: "env.prefix",
    };
    const fromEnv = await resolve(env, { pass: "opt-pass" });
    expect(fromEnv.connectOptions).toMatchObject({
      servers: ["nats://env:4222"],
      user: "env-user",
      pass: "opt-pass",
      token: "ctx-token",
      inboxPrefix: "_INBOX_ctx",
    });
    expect(fromEnv.prefix).toBe("env.prefix");
    expect(fromEnv.source.settings).toMatchObject({
      servers: "env",
      user: "env",
      pass: "option",
      token: "context",
      inboxPrefix: "context",
      prefix: "env",
    });

    const fromOptions = await resolve(env, { servers: "nats://opt:4222", prefix: "opt" });
    expect(fromOptions.connectOptions.servers).toEqual(["nats://opt:4222"]);
    expect(fromOptions.prefix).toBe("opt");

    const fromContext = await resolve({ XDG_CONFIG_HOME: xdg, NATS_CONTEXT: "layers" });
    expect(fromContext.connectOptions).toMatchObject({ servers: ["nats://ctx:4222"], user: "ctx-user" });
  });

  it("treats the port option like servers, but not together with servers", async () => {
    const { connectOptions } = await resolve({ NATS_URL: "nats://env:4222" }, { port: 4301 });
    expect(connectOptions.servers).toEqual(["127.0.0.1:4301"]);
    expect(connectOptions).not.toHaveProperty("port");
    const err = await configError(resolve({}, { port: 4301, servers: "nats://a:1" }));
    expect(err.variable).toBe("port");
  });
});

describe("connect - behaviour: server URLs", () => {
  it("turns user:password in a URL into URL-decoded user/pass and strips it from the server", async () => {
    const { connectOptions, source } = await resolve({
      NATS_URL: "nats://al%40ice:p%3Ass%20w%2F0rd@127.0.0.1:4223",
    });
    expect(connectOptions.servers).toEqual(["nats://127.0.0.1:4223"]);
    expect(connectOptions.user).toBe("al@ice");
    expect(connectOptions.pass).toBe("p:ss w/0rd");
    expect(connectOptions.token).toBeUndefined();
    expect(source.settings).toMatchObject({ servers: "env", user: "url", pass: "url" });
  });

  it("turns a lone userinfo into a URL-decoded token", async () => {
    const { connectOptions } = await resolve({ NATS_URL: "nats://s3cr%2Ft@127.0.0.1:4223" });
    expect(connectOptions.servers).toEqual(["nats://127.0.0.1:4223"]);
    expect(connectOptions.token).toBe("s3cr/t");
    expect(connectOptions.user).toBeUndefined();
  });

  it("keeps `user:` (empty password) as user/password, like nats.go", async () => {
    const { connectOptions } = await resolve({ NATS_URL: "nats://bob:@127.0.0.1:4223" });
    expect(connectOptions).toMatchObject({ user: "bob", pass: "" });
  });

  it("lets explicit user/pass/token win over URL credentials", async () => {
    const { connectOptions } = await resolve({ NATS_URL: "nats://u:p@127.0.0.1:4223", NATS_TOKEN: "tok" });
    expect(connectOptions.servers).toEqual(["nats://127.0.0.1:4223"]);
    expect(connectOptions.token).toBe("tok");
    expect(connectOptions.user).toBeUndefined();
    expect(connectOptions.pass).toBeUndefined();
  });

  it("accepts a comma-separated list, with or without scheme; tls:// requires TLS", async () => {
    const { connectOptions } = await resolve({
      NATS_URL: " nats://a:4222, tls://b:4223 ,c:4224,, nats://[::1]:4225",
    });
    expect(connectOptions.servers).toEqual(["nats://a:4222", "tls://b:4223", "c:4224", "nats://[::1]:4225"]);
    expect(connectOptions.tls).toEqual({});
  });

  it("rejects URLs embedding different credentials", async () => {
    const err = await configError(resolve({ NATS_URL: "nats://a:1@h:4222,nats://b:2@h:4223" }));
    expect(err.variable).toBe("NATS_URL");
  });

  it("rejects a malformed URL naming NATS_URL, without echoing passwords", async () => {
    const err = await configError(resolve({ NATS_URL: "nats://:::" }));
    expect(err.variable).toBe("NATS_URL");
    expect(err.message).toMatch(/^NATS_URL: malformed URL 'nats:\/\/:::'/);

    const secret = await configError(resolve({ NATS_URL: "nats://me:hunter2@h:99999" }));
    expect(secret.message).toMatch(/^NATS_URL: malformed URL/);
    expect(secret.message).not.toContain("hunter2");

    const noHost = await configError(resolve({ NATS_URL: "nats://" }));
    expect(noHost.message).toContain("missing host");

    const scheme = await configError(resolve({ NATS_URL: "ws://h:8080" }));
    expect(scheme.message).toContain("unsupported scheme 'ws:'");

    const option = await configError(resolve({}, { servers: ["nats://ok:4222", "nats://:::"] }));
    expect(option.variable).toBe("servers");
  });
});

describe("connect - behaviour: NATS_PREFIX", () => {
  it("accepts dot-separated subject-safe tokens", async () => {
    for (const prefix of ["mesh", "Mesh.dev_1", "a-b.c_d.E9"]) {
      expect((await resolve({ NATS_PREFIX: prefix })).prefix).toBe(prefix);
    }
  });

  it("rejects anything else naming the variable", async () => {
    for (const prefix of ["bad prefix", "a..b", ".a", "a.", "a.*", "a.>", "mesh/x"]) {
      const err = await configError(resolve({ NATS_PREFIX: prefix }));
      expect(err.variable).toBe("NATS_PREFIX");
      expect(err.message).toContain(`NATS_PREFIX: invalid prefix '${prefix}'`);
    }
    const option = await configError(resolve({}, { prefix: "" }));
    expect(option.variable).toBe("prefix");
  });
});

describe("connect - behaviour: credential and TLS files", () => {
  it("reports a missing creds file naming NATS_CREDS and the errno", async () => {
    const err = await configError(resolve({ NATS_CREDS: "/x/y.creds" }));
    expect(err.variable).toBe("NATS_CREDS");
    expect(err.message).toBe("NATS_CREDS: cannot read credentials file /x/y.creds (ENOENT)");
    expect((err.cause as NodeJS.ErrnoException).code).toBe("ENOENT");
  });

  it("builds a JWT authenticator from a valid creds file and rejects a broken one", async () => {
    const user = seedOf();
    const path = await file("user.creds", credsFile(user.seed));
    const { connectOptions, source } = await resolve({ NATS_CREDS: path });
    const auth = (connectOptions.authenticator as AuthFn)("nonce");
    expect(auth).toMatchObject({ jwt: FAKE_JWT, nkey: user.publicKey });
    expect(source.settings.creds).toBe("env");

    const broken = await file("broken.creds", "not a creds file");
    const err = await configError(resolve({}, { creds: broken }));
    expect(err.variable).toBe("creds");
    expect(err.message).toContain("is not a valid NATS credentials file");
  });

  it("accepts an nkey seed literally or from a file", async () => {
    const user = seedOf();
    const literal = await resolve({ NATS_NKEY: user.seed });
    expect((literal.connectOptions.authenticator as AuthFn)("nonce")).toMatchObject({ nkey: user.publicKey });

    const path = await file("user.nk", `${user.seed}\n`);
    const fromFile = await resolve({}, { nkey: path });
    expect((fromFile.connectOptions.authenticator as AuthFn)("nonce")).toMatchObject({
      nkey: user.publicKey,
    });
  });

  it("rejects unusable nkeys naming NATS_NKEY", async () => {
    const missing = await configError(resolve({ NATS_NKEY: "/no/such.nk" }));
    expect(missing.message).toBe("NATS_NKEY: cannot read nkey seed file /no/such.nk (ENOENT)");
    const garbage = await file("garbage.nk", "hello");
    const noSeed = await configError(resolve({ NATS_NKEY: garbage }));
    expect(noSeed.message).toContain("contains no nkey user seed");
  });

  it("combines creds, nkey and an explicit authenticator", async () => {
    const user = seedOf();
    const creds = await file("combo.creds", credsFile(user.seed));
    const explicit = () => ({ auth_token: "custom" });
    const { connectOptions } = await resolve(
      { NATS_CREDS: creds, NATS_NKEY: user.seed },
      { authenticator: explicit },
    );
    expect(connectOptions.authenticator).toHaveLength(3);
    expect((connectOptions.authenticator as AuthFn[])[0]).toBe(explicit);
  });

  it("checks certificate, key and CA files up front and sets tls", async () => {
    const cert = await file("tls/cert.pem", "-----BEGIN CERTIFICATE-----\n");
    const key = await file("tls/key.pem", "-----BEGIN PRIVATE KEY-----\n");
    const ca = await file("tls/ca.pem", "-----BEGIN CERTIFICATE-----\n");
    const all = await resolve({ NATS_CERT: cert, NATS_KEY: key, NATS_CA: ca });
    expect(all.connectOptions.tls).toEqual({ certFile: cert, keyFile: key, caFile: ca });

    const caOnly = await resolve({ NATS_CA: ca }, { tls: { rejectUnauthorized: false } });
    expect(caOnly.connectOptions.tls).toEqual({ caFile: ca, rejectUnauthorized: false });
  });

  it("reports an unreadable certificate naming NATS_CERT", async () => {
    const key = await file("tls2/key.pem", "key");
    const missing = await configError(resolve({ NATS_CERT: "/nope/cert.pem", NATS_KEY: key }));
    expect(missing.variable).toBe("NATS_CERT");
    expect(missing.message).toBe("NATS_CERT: cannot read certificate /nope/cert.pem (ENOENT)");

    const directory = await configError(resolve({ NATS_CERT: tmp, NATS_KEY: key }));
    expect(directory.message).toBe(`NATS_CERT: cannot read certificate ${tmp} (EISDIR)`);

    const ca = await configError(resolve({ NATS_CA: "/nope/ca.pem" }));
    expect(ca.message).toBe("NATS_CA: cannot read CA certificate /nope/ca.pem (ENOENT)");

    const lonely = await configError(resolve({ NATS_CERT: key }));
    expect(lonely.variable).toBe("NATS_CERT");
    expect(lonely.message).toContain("needs a key");
  });

  it("refuses tls: null together with a tls:// URL", async () => {
    const err = await configError(resolve({ NATS_URL: "tls://h:4222" }, { tls: null }));
    expect(err.variable).toBe("tls");
  });
});

describe("connect - behaviour: natscli contexts", () => {
  it("loads a context by name from $XDG_CONFIG_HOME/nats/context (NATS_CONTEXT or option)", async () => {
    const xdg = join(tmp, "xdg-named");
    const path = await writeContext(xdg, "dev", {
      url: "nats://u:p@dev-1:4222,nats://u:p@dev-2:4222",
      token: "",
      creds: "",
      nkey: "",
    });
    const viaEnv = await resolve({ XDG_CONFIG_HOME: xdg, NATS_CONTEXT: "dev" });
    expect(viaEnv.connectOptions).toMatchObject({
      servers: ["nats://dev-1:4222", "nats://dev-2:4222"],
      user: "u",
      pass: "p",
    });
    expect(viaEnv.connectOptions.token).toBeUndefined();
    expect(viaEnv.source.context).toEqual({ name: "dev", path, selectedBy: "env" });
    expect(viaEnv.source.settings.servers).toBe("context");

    const viaOption = await resolve({ XDG_CONFIG_HOME: xdg, NATS_CONTEXT: "other" }, { context: "dev" });
    expect(viaOption.source.context).toEqual({ name: "dev", path, selectedBy: "option" });
  });

  it("loads a context by path, expanding ~ in its file settings", async () => {
    const home = join(tmp, "ctx-home");
    const user = seedOf();
    await file("ctx-home/keys/user.nk", user.seed);
    const path = await file(
      "contexts/prod.json",
      JSON.stringify({ url: "nats://prod:4222", nkey: "~/keys/user.nk" }),
    );
    const { connectOptions, source } = await resolve({ HOME: home }, { context: path });
    expect(connectOptions.servers).toEqual(["nats://prod:4222"]);
    expect((connectOptions.authenticator as AuthFn)("n")).toMatchObject({ nkey: user.publicKey });
    expect(source.context).toEqual({ name: "prod", path, selectedBy: "option" });
  });

  it("uses the natscli selected context from context.txt, unless NATS_CONTEXT says otherwise", async () => {
    const xdg = join(tmp, "xdg-selected");
    await writeContext(xdg, "picked", { url: "nats://picked:4222" });
    await writeContext(xdg, "other", { url: "nats://other:4222" });
    await file(join("xdg-selected", "nats", "context.txt"), "picked\n");

    const selected = await resolve({ XDG_CONFIG_HOME: xdg });
    expect(selected.connectOptions.servers).toEqual(["nats://picked:4222"]);
    expect(selected.source.context?.selectedBy).toBe("context.txt");

    const overridden = await resolve({ XDG_CONFIG_HOME: xdg, NATS_CONTEXT: "other" });
    expect(overridden.connectOptions.servers).toEqual(["nats://other:4222"]);

    const envWins = await resolve({ XDG_CONFIG_HOME: xdg, NATS_URL: "nats://env:4222" });
    expect(envWins.connectOptions.servers).toEqual(["nats://env:4222"]);
  });

  it("falls back to ~/.config/nats when XDG_CONFIG_HOME is unset, and needs HOME or XDG to find one", async () => {
    const home = join(tmp, "home-default");
    await file("home-default/.config/nats/context/hd.json", JSON.stringify({ url: "nats://hd:4222" }));
    const { connectOptions } = await resolveOptions({ env: { HOME: home, NATS_CONTEXT: "hd" } });
    expect(connectOptions.servers).toEqual(["nats://hd:4222"]);

    const nowhere = await resolveOptions({ env: { NATS_URL: "nats://x:4222" } });
    expect(nowhere.source.context).toBeNull();
  });

  it("reports a missing context naming NATS_CONTEXT and the path", async () => {
    const home = join(tmp, "home-missing");
    const err = await configError(resolveOptions({ env: { HOME: home, NATS_CONTEXT: "foo" } }));
    expect(err.variable).toBe("NATS_CONTEXT");
    expect(err.message).toBe("NATS_CONTEXT: context 'foo' not found in ~/.config/nats/context/foo.json");

    const option = await configError(resolve({}, { context: join(tmp, "nope.json") }));
    expect(option.variable).toBe("context");
  });

  it("reports an invalid context file and errors inside it", async () => {
    const bad = await file("contexts/bad.json", "{ not json");
    const err = await configError(resolve({ NATS_CONTEXT: bad }));
    expect(err.message).toContain("is not valid JSON");

    const creds = await file("contexts/creds.json", JSON.stringify({ creds: "/x/y.creds" }));
    const inner = await configError(resolve({ NATS_CONTEXT: creds }));
    expect(inner.variable).toBe("NATS_CONTEXT");
    expect(inner.message).toBe(
      "NATS_CONTEXT: context 'creds' field 'creds': cannot read credentials file /x/y.creds (ENOENT)",
    );
  });
});

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  const address = server.address();
  await new Promise<void>((ok) => server.close(() => ok()));
  if (typeof address !== "object" || address === null) throw new Error("no port");
  return address.port;
}

async function connectError(promise: Promise<unknown>): Promise<ConnectError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ConnectError);
  const connect = err as ConnectError;
  expect(connect.code).toBe("NM_ERR_CONNECT");
  expect(connect.status).toBe(503);
  return connect;
}

describe("connect - behaviour: against a real nats-server", () => {
  it("connects with nats://user:pass@ to a user/password server", async () => {
    await using nats = await natsFixture(
      { authorization: { user: "a", password: "b c" } },
      { connect: false },
    );
    const { server } = nats;
    await using mesh = await connect({
      env: { ...baseEnv, NATS_URL: `nats://a:b%20c@127.0.0.1:${server.port}`, NATS_PREFIX: "it" },
    });
    expect(mesh.prefix).toBe("it");
    await mesh.nc.flush();
    expect(mesh.nc.getServer()).toContain(String(server.port));

    const err = await connectError(
      connect({ env: { ...baseEnv, NATS_URL: `nats://a:wrong@127.0.0.1:${server.port}` } }),
    );
    expect(err.message).toMatch(
      new RegExp(`^cannot connect to NATS at nats://127\\.0\\.0\\.1:${server.port}: .*[Aa]uthorization`),
    );
    expect(err.message).not.toContain("wrong");
  });

  it("connects with nats://token@ to a token server", async () => {
    await using nats = await natsFixture({ authorization: { token: "t/k" } }, { connect: false });
    const { server } = nats;
    const mesh = await connect({ env: { ...baseEnv, NATS_URL: `nats://t%2Fk@127.0.0.1:${server.port}` } });
    await mesh.nc.flush();
    await mesh.close();
    await mesh.close();
    expect(mesh.nc.isClosed()).toBe(true);
  });

  it("connects with a NATS_NKEY seed to an nkey server", async () => {
    const user = seedOf();
    await using nats = await natsFixture(
      { authorization: { users: [{ nkey: user.publicKey }] } },
      { connect: false },
    );
    const { server } = nats;
    const mesh = await connect({
      env: { ...baseEnv, NATS_URL: `127.0.0.1:${server.port}`, NATS_NKEY: user.seed },
    });
    const sub = mesh.nc.subscribe("it.echo", {
      max: 1,
      callback: (_e, m) => {
        m.respond(m.data);
      },
    });
    const reply = await mesh.nc.request("it.echo", "hi", { timeout: 2000 });
    expect(reply.string()).toBe("hi");
    await sub.closed;
    await mesh.drain();
    await mesh.drain();
    expect(mesh.nc.isClosed()).toBe(true);

    const other = seedOf();
    const err = await connectError(
      connect({ env: { ...baseEnv, NATS_URL: `127.0.0.1:${server.port}`, NATS_NKEY: other.seed } }),
    );
    expect(err.servers).toEqual([`127.0.0.1:${server.port}`]);
  });

  it("fails fast with ConnectError when nothing listens", async () => {
    const port = await freePort();
    const started = Date.now();
    const err = await connectError(connect({ servers: `nats://127.0.0.1:${port}`, env: baseEnv }));
    expect(Date.now() - started).toBeLessThan(5000);
    expect(err.message).toMatch(new RegExp(`^cannot connect to NATS at nats://127\\.0\\.0\\.1:${port}: `));
    expect(err.cause).toBeInstanceOf(Error);
  });

  it("surfaces configuration problems as ConfigError, not ConnectError", async () => {
    await configError(connect({ env: { ...baseEnv, NATS_URL: "nats://:::" } }));
  });
});
