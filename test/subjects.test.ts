import { describe, expect, it } from "vitest";
import {
  assertInstanceId,
  everyRequestSubject,
  everySubject,
  InvalidServiceError,
  instanceRequestSubject,
  instanceSubject,
  lastTokenNumber,
  serviceSubject,
} from "../src/protocol/index.js";

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

describe("protocol - subjects of one instance and every instance (PROTOCOL.md §10)", () => {
  it("subjects - builds $I and $ALL subjects under <prefix>.<service>.>, method token last", () => {
    expect(instanceRequestSubject("mesh", "billing.invoices", "i-1_A", "PATCH")).toBe(
      "mesh.billing.invoices.$I.i-1_A.patch",
    );
    expect(instanceSubject("team.v2", "weather", "i1")).toBe("team.v2.weather.$I.i1.*");
    expect(everyRequestSubject("mesh", "weather", "GET")).toBe("mesh.weather.$ALL.get");
    expect(everySubject("mesh", "weather")).toBe("mesh.weather.$ALL.*");
    // The queue subject has one token fewer than either: it never matches them.
    expect(serviceSubject("mesh", "weather").split(".")).toHaveLength(3);
  });

  it("subjects - an instance id that is not one [A-Za-z0-9_-] token is an InvalidServiceError", () => {
    for (const bad of ["", "a.b", "*", ">", "a b", "ä", "$I"]) {
      expect(() => assertInstanceId(bad), bad).toThrow(InvalidServiceError);
      expect(() => instanceRequestSubject("mesh", "weather", bad, "GET"), bad).toThrow(InvalidServiceError);
    }
    expect(assertInstanceId("hx2Kq0l1eDzNaBvVQhTz5A")).toBe("hx2Kq0l1eDzNaBvVQhTz5A");
  });
});
