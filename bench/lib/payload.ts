/** The 100-byte body every scenario answers with by default. */
export const BODY_100 = new Uint8Array(100).fill(0x61);
/** Its text form. */
export const TEXT_100 = "a".repeat(100);

/** Answer sizes of the request-path benchmark at c=64: 100 B, 10 KiB, 512 KiB. */
export const SIZES = [100, 10 * 1024, 512 * 1024] as const;
/**
 * The bodies' reference point of the Benchmarks issue: 64 KiB answers at c=8, where raw NATS was
 * measured at 263 MB/s and direct HTTP at 1,018 MB/s before natsmesh existed.
 */
export const BODY_SIZE = 64 * 1024;
/** Concurrency of the {@link BODY_SIZE} run. */
export const BODY_CONCURRENCY = 8;
/** Every size a responder answers and a client asks for. */
export const ANSWER_SIZES: readonly number[] = [...SIZES, BODY_SIZE];

/** "100 B", "10 KB", "512 KB" (KB = 1024 bytes, as in the issue). */
export function sizeLabel(size: number): string {
  return size < 1024 ? `${size} B` : `${size / 1024} KB`;
}

/** The answer of each size as bytes (a `Buffer`, which express needs to send bytes) and as text. */
export const BODIES: ReadonlyMap<number, { bytes: Buffer<ArrayBuffer>; text: string }> = new Map(
  ANSWER_SIZES.map((n) => [n, { bytes: Buffer.alloc(n, 0x61) as Buffer<ArrayBuffer>, text: "a".repeat(n) }]),
);

/**
 * The answer for a request path: `/` and `/100` → 100 B, `/10240` → 10 KB, `/65536` → 64 KB,
 * `/524288` → 512 KB.
 * Every handler of every scenario (natsmesh, HTTP) answers through this one lookup.
 */
export const BY_PATH: ReadonlyMap<string, Buffer<ArrayBuffer>> = new Map([
  ["/", BODIES.get(100)!.bytes],
  ...ANSWER_SIZES.map((n) => [`/${n}`, BODIES.get(n)!.bytes] as const),
]);
