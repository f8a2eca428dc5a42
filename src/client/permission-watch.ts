import { type NatsConnection, PermissionViolationError } from "@nats-io/nats-core";

/** A running {@link watchPublishDenials} listener. */
export interface PermissionWatch {
  /** Stops listening to the connection's status. */
  stop(): void;
}

/**
 * Calls `onDenied(subject, error)` for every publish nats-server refuses on `nc` for lack of permission.
 * The server reports such a publish asynchronously, as `-ERR 'Permissions Violation for Publish to
 * "<subject>"'`, which nats.js turns into a status event of type `error`, never into a failure of the
 * `publish()` call: without this listener a denied request just waits for its timeout.
 *
 * @param nc - the connection to watch
 * @param onDenied - called with the refused subject and nats.js's `PermissionViolationError`
 * @returns a handle whose `stop()` ends the listener (it also ends when the connection closes)
 * @example
 * ```ts
 * const watch = watchPublishDenials(nc, (subject) => console.error(`may not publish to ${subject}`));
 * watch.stop();
 * ```
 */
export function watchPublishDenials(
  nc: NatsConnection,
  onDenied: (subject: string, error: PermissionViolationError) => void,
): PermissionWatch {
  const statuses = nc.status();
  (async () => {
    for await (const s of statuses) {
      if (
        s.type === "error" &&
        s.error instanceof PermissionViolationError &&
        s.error.operation === "publish"
      ) {
        onDenied(s.error.subject, s.error);
      }
    }
  })().catch(() => undefined);
  // nats.js's status() iterator is a QueuedIterator, whose stop() ends the loop above.
  return { stop: () => (statuses as { stop?(): void }).stop?.() };
}
