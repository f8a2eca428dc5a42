import { describe, expect, it } from "vitest";
import { plainUrl } from "../src/client/to-wire.js";

/** What the client needs of a URL, as the WHATWG parser gives it. */
function parsed(href: string): { href: string; hostname: string; path: string } | undefined {
  try {
    const u = new URL(href);
    return { href: u.href, hostname: u.hostname, path: `${u.pathname}${u.search}` };
  } catch {
    return undefined;
  }
}

const CASES = [
  "http://bench/100",
  "http://bench",
  "https://weather.nats/city?q=london",
  "http://a.b.c/x/y.z?a=1&b=2",
  "http://svc_1.nats/x",
  "http://bench?x=1",
  "http://bench//x",
  "http://bench/a%20b",
  "http://bench/~x?y=%zz",
  "http://bench/@:;=,",
  // Everything below must go the slow way (the parser would change it, or it is not a plain URL).
  "http://Bench/1",
  "HTTP://bench/1",
  "http://bench:80/",
  "http://bench:8080/",
  "http://123/",
  "http://a.0x1f/",
  "http://bench/a/./b",
  "http://bench/a/..",
  "http://bench/%2e%2E/x",
  "http://bench/a b",
  "http://bench/?",
  "http://bench/#f",
  "http://bench/a'b",
  "http://bench/a?b'c",
  "http://xn--abc/",
  "http://bench/é",
  "http://bench/a\\b",
  "http://a..b/",
  "http://bench./",
  "http://user@bench/",
  "ftp://bench/",
  "http:/bench/",
  "http://bench/a{b}",
  "http://bench/a\tb",
];

describe("client - plain URL fast path", () => {
  it("gives exactly what new URL() gives, or leaves the URL to it", () => {
    let fast = 0;
    for (const href of CASES) {
      const p = plainUrl(href);
      if (p === undefined) continue;
      fast++;
      expect(p, href).toEqual(parsed(href));
    }
    expect(fast).toBe(10);
  });

  it("agrees with new URL() on random URLs built from characters that matter to the parser", () => {
    const alphabet = "aZ09-_.~/?#%2eE '\"<>\\:@!$&()*+,;=xé{}\t";
    let seed = 7;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    let fast = 0;
    for (let i = 0; i < 20_000; i++) {
      let tail = "";
      const len = rand(12);
      for (let j = 0; j < len; j++) tail += alphabet[rand(alphabet.length)];
      const host = ["bench", "a.b", "x1", "s_1.nats", "1a"][rand(5)];
      const href = `http://${host}${rand(2) ? "/" : ""}${tail}`;
      const p = plainUrl(href);
      if (p === undefined) continue;
      fast++;
      expect(p, href).toEqual(parsed(href));
    }
    expect(fast).toBeGreaterThan(1000);
  });
});
