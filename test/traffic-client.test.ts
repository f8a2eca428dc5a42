/** The retry policy wired into createFetch and MeshDispatcher, against a real nats-server. */
import { request } from "undici";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createFetch, MeshDispatcher, NoRespondersError, type ServiceHandle, serve } from "../src/index.js";
import { fetchApp } from "./support/apps.js";
import { type NatsFixture, natsFixture, silentLogger as silent } from "./support/helpers.js";

describe("retry - client retry policy over NATS", () => {
  let nats: NatsFixture;
  beforeAll(async () => {
    nats = await natsFixture();
  });
  afterAll(() => nats?.[Symbol.asyncDispose]());
  let svc: ServiceHandle | undefined;
  afterEach(async () => {
    await svc?.stop();
    svc = undefined;
  });
  /** Starts the service during the first retry's hook: the second attempt finds it. */
  const startOnRetry =
    (events: string[]) => async (e: { attempt: number; service: string; error: unknown }) => {
      events.push(`${e.service} attempt ${e.attempt}: ${(e.error as Error).name}`);
      svc ??= await serve(fetchApp("late"), { service: "late", nc: nats.nc, logger: silent });
    };

  it("retry - createFetch sends a GET again after no responders and gets the answer; a POST is not sent again", async () => {
    const events: string[] = [];
    await using fetch = createFetch({ nc: nats.nc, retry: { backoffMs: 1, onRetry: startOnRetry(events) } });
    const res = await fetch("http://late/whoami");
    expect(await res.text()).toBe("late");
    expect(events).toEqual(["late attempt 1: NoRespondersError"]);
    await svc!.stop();
    svc = undefined;
    events.length = 0;
    await expect(fetch("http://late/echo", { method: "POST", body: "x" })).rejects.toBeInstanceOf(
      NoRespondersError,
    );
    expect(events).toEqual([]);
    expect(svc).toBeUndefined();
  });

  it("retry - MeshDispatcher takes the same retry option; retry: false fails at once", async () => {
    const events: string[] = [];
    const dispatcher = new MeshDispatcher({
      nc: nats.nc,
      retry: { backoffMs: 1, onRetry: startOnRetry(events) },
    });
    try {
      const { statusCode, body } = await request("http://late/whoami", { dispatcher });
      expect(statusCode).toBe(200);
      expect(await body.text()).toBe("late");
      expect(events).toEqual(["late attempt 1: NoRespondersError"]);
    } finally {
      await dispatcher.close();
    }
    await svc!.stop();
    svc = undefined;
    const once = new MeshDispatcher({ nc: nats.nc, retry: false });
    try {
      await expect(request("http://late/whoami", { dispatcher: once })).rejects.toBeInstanceOf(
        NoRespondersError,
      );
    } finally {
      await once.close();
    }
  });
});
