/**
 * `RecentKeys`: what one instance itself knows of the keys it ran lately — the executions under way
 * and the records they ended with — for when the store can be neither written nor read (a KV leader
 * election). Pure memory, bounded in count and age; it knows nothing of other instances' keys.
 *
 * @module
 */
import type { DedupeRecord } from "./record.js";

/** One key as this instance knows it: running here (settled when it ends), or its last record. */
export type RecentKey =
  | { running: Promise<void>; fingerprint: string; at: number }
  | { record: DedupeRecord; at: number };

/**
 * The last `max` keys this instance ran, their answers' bodies `maxBytes` in all, each for at most
 * `ttl` ms (the bucket's TTL: past it the store forgets the key too). Oldest first out.
 */
export class RecentKeys {
  readonly #max: number;
  readonly #maxBytes: number;
  readonly #ttl: number;
  readonly #keys = new Map<string, RecentKey>();
  #bytes = 0;

  /**
   * @param max - keys kept at most
   * @param maxBytes - bytes of kept answers' bodies at most
   * @param ttl - ms a key is kept
   */
  constructor(max: number, maxBytes: number, ttl: number) {
    this.#max = max;
    this.#maxBytes = maxBytes;
    this.#ttl = ttl;
  }

  /** The key as last noted, or undefined when unknown or older than the TTL. */
  get(key: string): RecentKey | undefined {
    const known = this.#keys.get(key);
    if (known === undefined) return undefined;
    if (performance.now() - known.at < this.#ttl) return known;
    this.forget(key);
    return undefined;
  }

  /**
   * Notes that `key` runs here until `running` settles, then forgets it unless {@link done} noted
   * its record meanwhile.
   */
  running(key: string, fingerprint: string, running: Promise<unknown>): void {
    const entry: RecentKey = { running: running.then(noop, noop), fingerprint, at: performance.now() };
    this.#set(key, entry);
    void entry.running.then(() => {
      if (this.#keys.get(key) === entry) this.forget(key);
    });
  }

  /** Notes the record `key` ended with (a done or not-kept record). */
  done(key: string, record: DedupeRecord): void {
    this.#set(key, { record, at: performance.now() });
  }

  /** Forgets `key` (its claim was given back: a repeat runs it again). */
  forget(key: string): void {
    const known = this.#keys.get(key);
    if (known === undefined) return;
    this.#bytes -= sizeOf(known);
    this.#keys.delete(key);
  }

  #set(key: string, entry: RecentKey): void {
    this.forget(key);
    this.#keys.set(key, entry);
    this.#bytes += sizeOf(entry);
    while (this.#keys.size > this.#max || this.#bytes > this.#maxBytes)
      this.forget(this.#keys.keys().next().value!);
  }
}

function sizeOf(entry: RecentKey): number {
  return "record" in entry ? (entry.record.answer?.body.byteLength ?? 0) : 0;
}

function noop(): void {}
