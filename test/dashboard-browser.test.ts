/**
 * The dashboard in a real browser: Debian's chromium driven by playwright-core (never a browser
 * download). Under generated load the page shows the services, their instance counts and numbers
 * that change; an instance that dies disappears within a few seconds; with no service left the
 * page shows its empty state. Without /usr/bin/chromium the test skips, saying why — except under
 * CI=true, where it fails (.ci/run installs chromium).
 */
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { serveDashboard } from "../src/dashboard/index.js";
import { createFetch, type MeshFetch, type ServiceHandle, serve } from "../src/index.js";
import { type NatsFixture, natsFixture, silentLogger as silent } from "./support/helpers.js";
import { check, REPO_ROOT } from "./support/nats-server.js";

const CHROMIUM = "/usr/bin/chromium";
const present = existsSync(CHROMIUM);
const required = process.env.CI === "true";
/** Written into docs/ with NATSMESH_UPDATE_SCREENSHOT=1, else beside the test run's temporary files. */
const SCREENSHOT =
  process.env.NATSMESH_UPDATE_SCREENSHOT === "1"
    ? join(REPO_ROOT, "docs", "dashboard.png")
    : join(REPO_ROOT, ".tmp", "dashboard.png");
const SECRET_HEADER = "hunter2-header-value";
const SECRET_BODY = "top-secret-body";

if (!present && !required)
  console.warn(`dashboard-browser: skipped, ${CHROMIUM} is missing (apt-get install chromium)`);

describe.runIf(present || required)("dashboard - in chromium", () => {
  let nats: NatsFixture;
  let fetch: MeshFetch;
  let browser: BrowserContext;
  let page: Page;
  let profile: string;
  let server: Awaited<ReturnType<typeof serveDashboard>>;
  const running: ServiceHandle[] = [];
  let loading = true;
  let load: Promise<void>[] = [];

  const start = async (service: string, instance: string, version: string, ms: number) => {
    const svc = await serve(
      (req: Request) =>
        new Promise<Response>((r) =>
          setTimeout(
            () => r(new Response("ok", { status: new URL(req.url).pathname === "/fail" ? 500 : 200 })),
            ms,
          ),
        ),
      {
        service,
        instance,
        version,
        nc: await nats.connect(),
        logger: silent,
        metrics: false,
        reportInterval: 200,
        concurrency: 16,
      },
    );
    running.push(svc);
    return svc;
  };

  const cell = (service: string, field: string) =>
    page.locator(`#services tr.service[data-service="${service}"] td[data-field="${field}"]`);

  beforeAll(async () => {
    if (!present) throw new Error(`CI=true and ${CHROMIUM} is missing: .ci/run installs it with apt-get`);
    nats = await natsFixture();
    fetch = createFetch({ nc: nats.nc, timeout: 5000 });
    await start("weather", "weather-a", "1.4.0", 15);
    await start("weather", "weather-b", "1.4.0", 15);
    await start("billing", "billing-a", "2.0.1", 40);
    server = await serveDashboard({
      nc: nats.nc,
      window: 3,
      tick: 250,
      monitorUrls: [`http://127.0.0.1:${nats.server.monitorPort}`],
    });
    // Load that varies: weather loops with 6 callers, billing with 2, a few failing calls.
    load = Array.from({ length: 8 }, async (_, i) => {
      const url = i < 6 ? (i === 0 ? "http://weather/fail" : "http://weather/x") : "http://billing/invoice";
      while (loading) {
        // A request in flight at weather-b when it dies fails (a POST is not retried): the load goes on.
        await fetch(url, { method: "POST", headers: { "x-token": SECRET_HEADER }, body: SECRET_BODY }).then(
          (res) => res.arrayBuffer(),
          () => undefined,
        );
      }
    });
    profile = await mkdtemp(join(tmpdir(), "natsmesh-chromium-"));
    // A fresh profile (playwright passes it as --user-data-dir).
    browser = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1360, height: 900 },
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
      ],
    });
    page = await browser.newPage();
  }, 30_000);

  afterAll(async () => {
    loading = false;
    await Promise.allSettled(load);
    await browser?.close();
    await server?.close();
    await Promise.allSettled(running.map((s) => s.stop()));
    await fetch?.close();
    await nats?.[Symbol.asyncDispose]();
    if (profile) await rm(profile, { recursive: true, force: true });
  });

  it("dashboard - shows services, instance counts and numbers that change; a dead instance leaves; then the empty state", async () => {
    const errors: string[] = [];
    page.on("pageerror", (err) => errors.push(err.message));
    page.on("console", (msg) => {
      if (msg.type() === "error") errors.push(msg.text());
    });
    await page.goto(server.url);
    await expect
      .poll(() => page.locator("#status").getAttribute("data-status"), { timeout: 5000 })
      .toBe("live");
    await expect.poll(() => cell("weather", "instances").textContent(), { timeout: 5000 }).toBe("2");
    await expect.poll(() => cell("billing", "instances").textContent(), { timeout: 5000 }).toBe("1");
    // Numbers that change: the weather rate cell takes at least three different values.
    const seen = new Set<string>();
    await check(
      async () => {
        const text = (await cell("weather", "rate").textContent()) ?? "";
        if (text !== "0") seen.add(text);
        return seen.size >= 3;
      },
      8000,
      { name: "weather's rate changing", interval: 100 },
    );
    await expect.poll(() => cell("weather", "p99").textContent(), { timeout: 3000 }).toMatch(/ms$/);
    expect(await page.locator('#services td[data-field="versions"]').allTextContents()).toEqual([
      "2.0.1",
      "1.4.0",
    ]);
    // The instances and the NATS server each is connected to; the server's own facts from /varz.
    expect(await page.locator('table[data-instances-of="weather"] tr.instance').count()).toBe(2);
    await expect.poll(() => page.locator("#nats tr[data-server]").count(), { timeout: 5000 }).toBe(1);
    // Charts drew.
    expect(await page.locator("#chart-rate canvas").count()).toBe(1);
    await mkdir(join(SCREENSHOT, ".."), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    // Never a body or a header value.
    const text = await page.locator("body").textContent();
    expect(text).not.toContain(SECRET_HEADER);
    expect(text).not.toContain(SECRET_BODY);

    // weather-b dies without a word (its connection closes): gone within a few seconds.
    const died = performance.now();
    await running[1]!.nc.close();
    await expect
      .poll(() => cell("weather", "instances").textContent(), { timeout: 4000, interval: 100 })
      .toBe("1");
    expect(performance.now() - died).toBeLessThan(4000);

    loading = false;
    await Promise.all(load);
    await Promise.all([running[0]!.stop(), running[2]!.stop()]);
    await expect.poll(() => page.locator("#empty").isVisible(), { timeout: 4000 }).toBe(true);
    expect(await page.locator("#services tr.service").count()).toBe(0);
    expect(errors).toEqual([]);
  }, 30_000);
});
