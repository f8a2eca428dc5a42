/**
 * The headline call of `npm run bench` (issue #19): a client POSTs a 1 KB JSON order of 8 records,
 * the handler parses it and answers a small JSON object. Every scenario does the same work: the
 * client serialises {@link ORDER} per call (as a user's code would) and parses the answer; the
 * handler parses the body and answers {@link summarize}'s result serialised.
 */

/** One record of the order. */
export interface OrderItem {
  sku: string;
  name: string;
  qty: number;
  price: number;
  tags: string[];
}

/** The request body, as an object. */
export interface Order {
  id: string;
  customer: { id: number; email: string; note: string };
  items: OrderItem[];
}

/** The answer, as an object. */
export interface OrderSummary {
  id: string;
  items: number;
  total: number;
}

/** The order every client sends: 8 records, 1,024 bytes as JSON (checked below). */
export const ORDER: Order = {
  id: "order-20261207-0001",
  customer: { id: 4711, email: "someone@example.com", note: "leave at the door, ring twice please" },
  items: Array.from({ length: 8 }, (_, i) => ({
    sku: `SKU-${1000 + i}`,
    name: `Item number ${i + 1} of the order, ${"x".repeat(9)}`,
    qty: (i % 3) + 1,
    price: 9.5 + i,
    tags: ["blue", "large"],
  })),
};

/** The size of {@link ORDER} as JSON. */
export const ORDER_BYTES = 1024;

const size = Buffer.byteLength(JSON.stringify(ORDER));
if (size !== ORDER_BYTES)
  throw new Error(`bench/lib/order.ts: the order is ${size} bytes, not ${ORDER_BYTES}`);

/** The handler's work: what every service answers for an order. */
export function summarize(order: Order): OrderSummary {
  let total = 0;
  for (const item of order.items) total += item.qty * item.price;
  return { id: order.id, items: order.items.length, total };
}

/** What every client must get back; a client checks its first answer against it. */
export const EXPECTED: OrderSummary = summarize(ORDER);

/** The request path of the headline call over HTTP (natsmesh and direct). */
export const ORDER_PATH = "/orders";

/** The Moleculer action / NestJS pattern / raw subject token of the headline call. */
export const ORDER_ACTION = "order";

/**
 * Checks an answer against {@link EXPECTED}.
 *
 * @throws Error when it differs (a scenario that answers something else must not be measured).
 */
export function checkSummary(scenario: string, answer: unknown): void {
  const got = JSON.stringify(answer);
  if (got !== JSON.stringify(EXPECTED))
    throw new Error(`${scenario}: answered ${got}, expected ${JSON.stringify(EXPECTED)}`);
}
