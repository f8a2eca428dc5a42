/**
 * Answers the micro protocol's discovery requests for one instance: `$SRV.PING|INFO|STATS`, bare, by
 * name and by name and id, as nats.go `micro` does. Not in a queue group: every instance answers.
 *
 * @module
 */
import type { NatsConnection, Subscription } from "@nats-io/nats-core";
import type { Logger } from "pino";
import {
  controlSubject,
  type EndpointCounters,
  infoResponse,
  type MicroDescription,
  MicroVerb,
  pingResponse,
  statsResponse,
} from "./documents.js";

/** A running discovery responder. */
export interface DiscoveryResponder {
  /** The subjects it listens on (nine). */
  readonly subjects: readonly string[];
  /** Unsubscribes at once (no more discovery answers). Safe to call twice. */
  stop(): void;
}

/**
 * Subscribes the instance's nine discovery subjects and answers them: PING and INFO with documents
 * built once, STATS with the counters read at request time.
 *
 * @param nc - the instance's connection
 * @param description - what the instance says about itself (see `describeInstance`)
 * @param counters - reads the endpoint's counters
 * @param logger - where a failed answer is logged
 * @returns the responder
 * @throws the connection's error when it is closed
 * @example
 * ```ts
 * const responder = answerDiscovery(nc, describeInstance(facts), () => counters);
 * // nats micro ls
 * responder.stop();
 * ```
 */
export function answerDiscovery(
  nc: NatsConnection,
  description: MicroDescription,
  counters: () => EndpointCounters,
  logger?: Logger,
): DiscoveryResponder {
  const ping = JSON.stringify(pingResponse(description));
  const info = JSON.stringify(infoResponse(description));
  const answers: Record<MicroVerb, () => string> = {
    PING: () => ping,
    INFO: () => info,
    STATS: () => JSON.stringify(statsResponse(description, counters())),
  };
  const subs: Subscription[] = [];
  const subjects: string[] = [];
  for (const verb of Object.values(MicroVerb)) {
    const answer = answers[verb];
    for (const subject of [
      controlSubject(verb),
      controlSubject(verb, description.name),
      controlSubject(verb, description.name, description.id),
    ]) {
      subjects.push(subject);
      subs.push(
        nc.subscribe(subject, {
          callback: (err, msg) => {
            if (err || !msg.reply) return;
            try {
              msg.respond(answer());
            } catch (e) {
              logger?.warn({ err: e, subject }, "could not answer a discovery request");
            }
          },
        }),
      );
    }
  }
  return {
    subjects,
    stop() {
      for (const sub of subs.splice(0)) sub.unsubscribe();
    },
  };
}
