/**
 * A standard `Response` whose body is bytes already in memory. Constructing a platform `Response`
 * from bytes builds a ReadableStream at once, and reading it back goes through that stream: a cost on
 * every call for bytes already in memory (BENCHMARKS.md). This subclass is
 * constructed without a body and serves `text()`, `json()`, `arrayBuffer()`, `bytes()` and `blob()`
 * straight from the bytes; `body` builds the stream only when someone asks for it. Its `Headers` too
 * are built on first use, from the wire's list (a platform Headers is a copy most callers never
 * read); {@link assertFetchHeaders} checks up front what they would
 * refuse.
 */
import { Buffer } from "node:buffer";
import { type HeaderList, TAKE_BYTES } from "../protocol/index.js";

const UTF8_BOM = [0xef, 0xbb, 0xbf];
/** What the Fetch API's Headers refuse in a value that the wire allows. */
const REFUSED_VALUE = /[\0\r\u0100-\uffff]/;

/**
 * Throws the TypeError the Fetch API's `Headers` would throw for `list` (the wire has already checked
 * the names), without building one.
 */
export function assertFetchHeaders(list: HeaderList): void {
  for (let i = 1; i < list.length; i += 2) {
    if (REFUSED_VALUE.test(list[i]!)) {
      throw new TypeError(
        `invalid header value for ${JSON.stringify(list[i - 1])}: a character the Fetch API refuses`,
      );
    }
  }
}

/** A platform `Headers` filled from the wire's name/value list (throws as `Headers.append` does). */
export function toHeaders(list: HeaderList): Headers {
  const headers = new Headers();
  for (let i = 0; i < list.length; i += 2) headers.append(list[i]!, list[i + 1]!);
  return headers;
}

/**
 * A base class whose instances inherit `Response.prototype` without running the platform's
 * constructor (its WebIDL conversions and internal state showed in the client's profile). Every
 * member of `Response.prototype` is overridden below, so none of the
 * platform's getters, which check for that internal state, is ever reached.
 */
class ResponseShell {}
Object.setPrototypeOf(ResponseShell.prototype, Response.prototype);
const ResponseBase = ResponseShell as unknown as typeof Response;

/** A `Response` over in-memory bytes (see the module comment). `instanceof Response` holds. */
export class MeshResponse extends ResponseBase {
  #bytes: Uint8Array | null;
  #status: number;
  #statusText: string;
  #used = false;
  #stream: ReadableStream<Uint8Array<ArrayBuffer>> | null | undefined;
  #url: string;
  #headers: Headers | HeaderList;

  /**
   * @param bytes - the body; `null` for a response that has none (HEAD, 204, 205, 304).
   * @param init - status and status text, as for `Response`.
   * @param url - what `url` reports.
   * @param headers - the headers, or the wire's name/value list they are built from on first use
   *   (checked first with {@link assertFetchHeaders}).
   */
  constructor(
    bytes: Uint8Array | null,
    init: { status: number; statusText: string },
    url: string,
    headers: Headers | HeaderList,
  ) {
    super();
    this.#status = init.status;
    this.#statusText = init.statusText;
    this.#bytes = bytes;
    this.#url = url;
    this.#headers = headers;
  }

  override get status(): number {
    return this.#status;
  }

  override get statusText(): string {
    return this.#statusText;
  }

  override get ok(): boolean {
    return this.#status >= 200 && this.#status <= 299;
  }

  override get type(): ResponseType {
    return "default";
  }

  override get redirected(): boolean {
    return false;
  }

  override get headers(): Headers {
    const headers = this.#headers;
    if (headers instanceof Headers) return headers;
    const built = toHeaders(headers);
    this.#headers = built;
    return built;
  }

  override get url(): string {
    return this.#url;
  }

  override get body(): ReadableStream<Uint8Array<ArrayBuffer>> | null {
    if (this.#stream === undefined) {
      const bytes = this.#bytes;
      if (bytes === null) {
        this.#stream = null;
      } else {
        const owner = this;
        // The body counts as used once the stream is read or cancelled, not when it is made (as a
        // platform Response's): a handler may hand `res.body` on unread (a proxy).
        this.#stream = new ReadableStream<Uint8Array<ArrayBuffer>>({
          type: "bytes",
          pull(controller) {
            owner.#used = true;
            if (bytes.byteLength > 0) controller.enqueue(new Uint8Array(bytes));
            controller.close();
          },
          cancel() {
            owner.#used = true;
          },
        });
      }
    }
    return this.#stream;
  }

  override get bodyUsed(): boolean {
    return this.#used;
  }

  /** The body's bytes for a server answering with this Response (a proxy): see {@link TAKE_BYTES}. */
  [TAKE_BYTES](): Uint8Array | undefined {
    if (this.#used || this.#stream) return undefined;
    this.#used = true;
    return this.#bytes ?? new Uint8Array(0);
  }

  /** Takes the bytes once, as every body-reading method does. */
  #take(): Uint8Array {
    if (this.#used || this.#stream) throw new TypeError("Body is unusable: Body has already been read");
    this.#used = true;
    return this.#bytes ?? new Uint8Array(0);
  }

  override async arrayBuffer(): Promise<ArrayBuffer> {
    const b = this.#take();
    return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
  }

  override async bytes(): Promise<Uint8Array<ArrayBuffer>> {
    return new Uint8Array(await this.arrayBuffer());
  }

  override async text(): Promise<string> {
    const b = this.#take();
    const bom = b.byteLength >= 3 && b[0] === UTF8_BOM[0] && b[1] === UTF8_BOM[1] && b[2] === UTF8_BOM[2];
    return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("utf8", bom ? 3 : 0);
  }

  override async json(): Promise<unknown> {
    return JSON.parse(await this.text());
  }

  override async blob(): Promise<Blob> {
    const b = this.#take();
    return new Blob([b as Uint8Array<ArrayBuffer>], { type: this.headers.get("content-type") ?? "" });
  }

  /**
   * The body as text chunks decoded as UTF-8, as the `textStream()` that Node 26's `Response` added
   * (the platform's would throw here: it reads a state this Response does not have).
   *
   * @returns the decoded body; an empty stream for a response without one
   * @throws TypeError when the body was already used
   */
  textStream(): ReadableStream<string> {
    if (this.#used || this.#stream?.locked)
      throw new TypeError("Body is unusable: Body has already been read");
    const body = this.body;
    if (body === null) return new ReadableStream<string>({ start: (controller) => controller.close() });
    return body.pipeThrough(new TextDecoderStream());
  }

  override async formData(): Promise<FormData> {
    const b = this.#take();
    return new Response(b as Uint8Array<ArrayBuffer>, { headers: this.headers }).formData();
  }

  override clone(): MeshResponse {
    if (this.#used || this.#stream) throw new TypeError("Response.clone: Body has already been consumed.");
    const copy = new MeshResponse(
      this.#bytes,
      { status: this.status, statusText: this.statusText },
      this.#url,
      new Headers(this.headers),
    );
    // The end of a redirect chain says so on its own (client/from-wire.ts markRedirected).
    if (this.redirected) Object.defineProperty(copy, "redirected", { value: true, enumerable: true });
    return copy;
  }
}
