/**
 * `RecentKeys` (src/dedupe/recent.ts): the keys an instance ran lately, for `unavailable:
 * "run-unclaimed"` (docs/TRAFFIC.md §8). Pure memory: no server.
 */
import { describe, expect, it } from "vitest";
import { type DedupeRecord, RecentKeys, RecordState } from "../src/dedupe/index.js";

function done(body: number): DedupeRecord {
  const answer = { status: 201, statusText: "", headers: [], body: new Uint8Array(body) };
  return { state: RecordState.Done, fingerprint: "fp", instance: "i", answer } as DedupeRecord;
}

describe("dedupe recent keys - an instance's memory of the keys it ran", () => {
  it("dedupe recent keys - a running key is known until it settles, then its record if one was noted", async () => {
    const recent = new RecentKeys(10, 1000, 60_000);
    let end!: () => void;
    const run = new Promise<void>((r) => (end = r));
    recent.running("a", "fp", run);
    recent.running("b", "fp", run);
    expect(recent.get("a")).toMatchObject({ fingerprint: "fp" });
    recent.done("a", done(1));
    end();
    await run;
    await new Promise((r) => setImmediate(r));
    expect(recent.get("a")).toMatchObject({ record: { state: "done" } });
    expect(recent.get("b")).toBeUndefined();
  });

  it("dedupe recent keys - the oldest keys go first past the count or the answers' bytes", () => {
    const recent = new RecentKeys(2, 100, 60_000);
    recent.done("a", done(10));
    recent.done("b", done(10));
    recent.done("c", done(10));
    expect([recent.get("a"), recent.get("b"), recent.get("c")].map(Boolean)).toEqual([false, true, true]);
    recent.done("d", done(95));
    expect([recent.get("b"), recent.get("c"), recent.get("d")].map(Boolean)).toEqual([false, false, true]);
  });

  it("dedupe recent keys - a key older than the TTL is forgotten", () => {
    const recent = new RecentKeys(10, 100, 0);
    recent.done("a", done(1));
    expect(recent.get("a")).toBeUndefined();
  });
});
