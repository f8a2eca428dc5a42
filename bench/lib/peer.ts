/**
 * What a peer framework module (bench/peers/*.ts) provides. The peers are devDependencies of
 * bench/package.json only, so nothing the root type check sees imports them: run.ts, client.ts and
 * responders.ts load a peer module by a computed URL and use it through these types.
 */

/** A benchmark client: one call fetches the answer of `size` bytes. */
export interface PeerClient {
  call(size: number): Promise<unknown>;
  close(): Promise<void>;
}

/** A peer module. */
export interface PeerModule {
  /** Serves the bench handler (answers the text of the requested size) on the NATS server at `url`. */
  serve(url: string): Promise<void>;
  /** Connects a client to the NATS server at `url`, ready once the service is reachable. */
  connectClient(url: string): Promise<PeerClient>;
}

/** Loads bench/peers/<name>.ts (installed by `npm ci` in bench/, which run.ts does when needed). */
export async function loadPeer(name: "moleculer" | "nest"): Promise<PeerModule> {
  const href = new URL(`../peers/${name}.ts`, import.meta.url).href;
  return (await import(href)) as PeerModule;
}
