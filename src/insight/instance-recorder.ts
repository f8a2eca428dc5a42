import { ServiceRecorder } from "../metrics/recorder.js";

/**
 * The counters of one instance for its insight reports: a {@link ServiceRecorder} of its own (the
 * shared one of `serve()`'s metrics counts every instance of the service in the process together),
 * passing each count on to that shared recorder too, so the request path still calls one recorder.
 */
export class InstanceRecorder extends ServiceRecorder {
  readonly #next: ServiceRecorder | undefined;

  /**
   * @param service - the service name
   * @param bounds - duration bucket bounds in seconds
   * @param next - the shared recorder of Prometheus metrics, if any
   */
  constructor(service: string, bounds: readonly number[], next: ServiceRecorder | undefined) {
    super(service, bounds);
    this.#next = next;
  }

  override start(): void {
    this.inFlight++;
    this.#next?.start();
  }

  override finish(method: string, status: number, seconds: number): void {
    this.inFlight--;
    super.record(method, status, seconds);
    this.#next?.finish(method, status, seconds);
  }

  override record(method: string, status: number, seconds: number): void {
    super.record(method, status, seconds);
    this.#next?.record(method, status, seconds);
  }

  override countMalformed(): void {
    this.malformed++;
    this.#next?.countMalformed();
  }

  override countDedupe(outcome: string): void {
    super.countDedupe(outcome);
    this.#next?.countDedupe(outcome);
  }
}
