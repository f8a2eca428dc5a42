/**
 * What a peer framework module (bench/peers/*.ts) provides. The peers are devDependencies of
 * bench/package.json only, so nothing the root type check sees imports them: run.ts, client.ts and
 * responders.ts load a peer module by a computed URL and use it through these types.
 */

/** A benchmark client. */
export interface PeerClient {
  /** Fetches the answer of `size` bytes (the GET tables). */
  call(size: number): Promise<unknown>;
  /** The headline call: sends bench/lib/order.ts's order as the params object, resolves with the summary. */
  order(): Promise<unknown>;
  close(): Promise<void>;
}

/** A peer module. */
export interface PeerModule {
  /**
   * Serves the bench handlers on the NATS server at `url` under `name` (the Moleculer service, the
   * NestJS patterns' first token), so that the peers of several scenarios wait side by side on one
   * nats-server without sharing requests: `get` answers the text of the requested size, `order`
   * the summary of the order.
   */
  serve(url: string, name: string): Promise<void>;
  /** Connects a client to the NATS server at `url` for the service `name`, ready once it is reachable. */
  connectClient(url: string, name: string): Promise<PeerClient>;
}

/** Loads bench/peers/<name>.ts (installed by `npm ci` in bench/, which run.ts does when needed). */
export async function loadPeer(name: "moleculer" | "nest"): Promise<PeerModule> {
  const href = new URL(`../peers/${name}.ts`, import.meta.url).href;
  return (await import(href)) as PeerModule;
}
