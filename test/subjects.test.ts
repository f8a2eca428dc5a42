import { describe, expect, it } from "vitest";
import { lastTokenNumber } from "../src/protocol/index.js";

describe("protocol - reply subject numbers", () => {
  it("reads back every id a reply subject is built from (toString(36)), up to 10 digits", () => {
    const ids = [0, 1, 35, 36, 71, 1295, 46655, 2 ** 31, 2 ** 40 + 7, 36 ** 10 - 1];
    for (let i = 0; i < 2000; i++) ids.push(Math.floor(Math.random() * 36 ** 8));
    for (const id of ids) {
      expect(lastTokenNumber(`_INBOX.AbC123.${id.toString(36)}`), String(id)).toBe(id);
      expect(lastTokenNumber(id.toString(36))).toBe(id);
    }
  });

  it("is -1 for a last token that is empty, too long, or not lower-case base 36", () => {
    for (const subject of [
      "_INBOX.x.",
      "",
      "_INBOX.x.A1",
      "_INBOX.x.a-b",
      "_INBOX.x.zzzzzzzzzzz",
      "a.b_c",
      "x.1 ",
    ])
      expect(lastTokenNumber(subject), subject).toBe(-1);
  });
});
