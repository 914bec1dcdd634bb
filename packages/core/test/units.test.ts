import { afterEach, describe, expect, it, vi } from "vitest";
import { flattenRoles, readClaim, toIDToken } from "../src/claims.js";
import type { OIDCAuthOptions } from "../src/config.js";
import { resolveConfig } from "../src/config.js";
import { OIDCAuthError } from "../src/errors.js";
import { ExpiringMap } from "../src/expiring-set.js";
import { isWeakRsaKey } from "../src/jwks.js";
import { silentLogger } from "../src/log.js";
import { checkPostLogoutRedirectUri, checkRedirectUri } from "../src/redirect-uris.js";
import { readForm, singleParam } from "../src/request-body.js";
import { Sealer } from "../src/seal.js";

/** Runs `work` and answers the OIDCAuthError it throws or rejects with. */
async function caught(work: () => unknown): Promise<OIDCAuthError> {
  let result: unknown;
  try {
    result = await work();
  } catch (err) {
    expect(err).toBeInstanceOf(OIDCAuthError);
    return err as OIDCAuthError;
  }
  return expect.fail(`expected an OIDCAuthError, got ${JSON.stringify(result)}`);
}

async function expectError(work: () => unknown, status: number, error: string) {
  const err = await caught(work);
  expect({ status: err.status, error: err.error }).toEqual({ status, error });
  return err;
}

describe("ExpiringMap", () => {
  const T0 = 1_000_000;

  it("never holds more than maxEntries under a flood of live entries", () => {
    const map = new ExpiringMap<number>(100);
    for (let i = 0; i < 10_000; i++) {
      expect(map.add(`k${i}`, i, T0 + 60_000, T0)).toBe(true);
      expect(map.size).toBeLessThanOrEqual(100);
    }
    expect(map.size).toBe(100);
    // the oldest went first; the newest are still there
    expect(map.take("k0", T0)).toBeUndefined();
    expect(map.take("k9999", T0)).toBe(9999);
    expect(map.take("k9900", T0)).toBe(9900);
  });

  it("never returns an expired entry", () => {
    const map = new ExpiringMap<string>(10);
    map.add("a", "value", T0 + 1000, T0);
    expect(map.take("a", T0 + 1000)).toBeUndefined();
    map.add("b", "value", T0 + 1000, T0);
    expect(map.take("b", T0 + 5000)).toBeUndefined();
    map.add("c", "value", T0 + 1000, T0);
    expect(map.take("c", T0 + 999)).toBe("value");
  });

  it("drops expired entries as new ones arrive", () => {
    const map = new ExpiringMap<number>(1000);
    for (let i = 0; i < 50; i++) map.add(`old${i}`, i, T0 + 10, T0);
    map.add("new", 1, T0 + 10_000, T0 + 20);
    expect(map.size).toBe(1);
  });

  it("refuses to add a live duplicate, and accepts the key again once it expired", () => {
    const map = new ExpiringMap<string>(10);
    expect(map.add("id", "first", T0 + 1000, T0)).toBe(true);
    expect(map.add("id", "second", T0 + 5000, T0 + 500)).toBe(false);
    expect(map.add("id", "third", T0 + 5000, T0 + 1000)).toBe(true);
    expect(map.take("id", T0 + 1001)).toBe("third");
  });

  it("hands out an entry only once", () => {
    const map = new ExpiringMap<string>(10);
    map.add("id", "value", T0 + 1000, T0);
    expect(map.take("id", T0)).toBe("value");
    expect(map.take("id", T0)).toBeUndefined();
    expect(map.size).toBe(0);
    expect(map.take("never-added", T0)).toBeUndefined();
  });
});

function post(body: BodyInit | null, contentType?: string, headers: Record<string, string> = {}) {
  const all: Record<string, string> = { ...headers };
  if (contentType !== undefined) all["content-type"] = contentType;
  return new Request("http://app.test/token", { method: "POST", headers: all, body });
}

/** A body that streams `chunk` forever (no content-length); counts the chunks it produced. */
function endlessStream(chunk: Uint8Array) {
  const state = { pulled: 0, cancelled: false };
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      state.pulled++;
      controller.enqueue(chunk);
    },
    cancel() {
      state.cancelled = true;
    },
  });
  return { stream, state };
}

describe("readForm", () => {
  const FORM = "application/x-www-form-urlencoded";

  it("reads an urlencoded body", async () => {
    const params = await readForm(post("a=1&b=two+words&c=%C3%A9", `${FORM}; charset=UTF-8`));
    expect([...params]).toEqual([
      ["a", "1"],
      ["b", "two words"],
      ["c", "é"],
    ]);
  });

  it("reads a flat JSON object of strings", async () => {
    const params = await readForm(
      post(JSON.stringify({ code: "abc", redirect_uri: "http://x/cb" }), "application/json"),
    );
    expect(params.get("code")).toBe("abc");
    expect(params.get("redirect_uri")).toBe("http://x/cb");
  });

  it("reads an empty body without a content type as no parameters", async () => {
    const params = await readForm(post(null));
    expect([...params]).toEqual([]);
  });

  it("refuses JSON values that are not strings", async () => {
    for (const body of [
      { code: 1 },
      { code: true },
      { code: null },
      { code: ["a", "b"] },
      { code: { nested: "x" } },
    ]) {
      await expectError(
        () => readForm(post(JSON.stringify(body), "application/json")),
        400,
        "invalid_request",
      );
    }
  });

  it("refuses JSON that is not an object, and malformed JSON", async () => {
    for (const body of ["[]", '["a"]', "null", '"code"', "42", "{code:", ""]) {
      await expectError(() => readForm(post(body, "application/json")), 400, "invalid_request");
    }
  });

  it("refuses other content types", async () => {
    await expectError(() => readForm(post("a=1", "text/plain")), 400, "invalid_request");
    await expectError(() => readForm(post("a=1", "multipart/form-data")), 400, "invalid_request");
    await expectError(() => readForm(post("a=1")), 400, "invalid_request");
  });

  it("refuses a body whose declared content-length exceeds the limit: 413", async () => {
    const request = post("a=1", FORM, { "content-length": "20000" });
    await expectError(() => readForm(request), 413, "invalid_request");
  });

  it("refuses an oversized body sent with its length: 413", async () => {
    const body = `a=${"x".repeat(16 * 1024)}`;
    await expectError(() => readForm(post(body, FORM)), 413, "invalid_request");
    const small = await readForm(post(`a=${"x".repeat(100)}`, FORM), {
      maxBytes: 102,
      maxParams: 32,
    });
    expect(small.get("a")).toHaveLength(100);
    await expectError(
      () => readForm(post(`a=${"x".repeat(101)}`, FORM), { maxBytes: 102, maxParams: 32 }),
      413,
      "invalid_request",
    );
  });

  it("stops reading a streamed body without content-length once it exceeds the limit: 413", async () => {
    const { stream, state } = endlessStream(new TextEncoder().encode("a=".padEnd(1024, "x")));
    const request = new Request("http://app.test/token", {
      method: "POST",
      headers: { "content-type": FORM },
      body: stream,
      duplex: "half",
    } as RequestInit);
    expect(request.headers.get("content-length")).toBeNull();
    await expectError(() => readForm(request), 413, "invalid_request");
    expect(state.pulled).toBeLessThan(64);
    expect(state.cancelled).toBe(true);
  });

  it("refuses more parameters than the limit", async () => {
    const form = (n: number) => Array.from({ length: n }, (_, i) => `p${i}=v`).join("&");
    expect([...(await readForm(post(form(32), FORM))).keys()]).toHaveLength(32);
    await expectError(() => readForm(post(form(33), FORM)), 400, "invalid_request");
    const json = JSON.stringify(
      Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`p${i}`, "v"])),
    );
    await expectError(() => readForm(post(json, "application/json")), 400, "invalid_request");
    await expectError(
      () => readForm(post("a=1&b=2&c=3", FORM), { maxBytes: 1024, maxParams: 2 }),
      400,
      "invalid_request",
    );
  });

  it("refuses a body that is not valid UTF-8", async () => {
    const bytes = new Uint8Array([0x61, 0x3d, 0xff, 0xfe, 0x26, 0x62, 0x3d, 0x31]);
    const err = await expectError(() => readForm(post(bytes, FORM)), 400, "invalid_request");
    expect(err.description).toMatch(/UTF-8/);
    await expectError(
      () =>
        readForm(post(new Uint8Array([0x7b, 0x22, 0xc3, 0x28, 0x22, 0x7d]), "application/json")),
      400,
      "invalid_request",
    );
  });
});

describe("singleParam", () => {
  it("answers the one value, and undefined when absent or empty", () => {
    const params = new URLSearchParams("a=1&empty=");
    expect(singleParam(params, "a")).toBe("1");
    expect(singleParam(params, "missing")).toBeUndefined();
    expect(singleParam(params, "empty")).toBeUndefined();
  });

  it("refuses a repeated parameter", async () => {
    await expectError(
      () => singleParam(new URLSearchParams("code=a&code=b"), "code"),
      400,
      "invalid_request",
    );
    await expectError(
      () => singleParam(new URLSearchParams("code=a&code=a"), "code"),
      400,
      "invalid_request",
    );
    await expectError(
      () => singleParam(new URLSearchParams("code=&code=a"), "code"),
      400,
      "invalid_request",
    );
  });

  it("refuses a value longer than its bound", async () => {
    const params = new URLSearchParams({ state: "x".repeat(11) });
    expect(singleParam(params, "state", 11)).toHaveLength(11);
    await expectError(() => singleParam(params, "state", 10), 400, "invalid_request");
  });
});

describe("Sealer", () => {
  const A = "secret-A-secret-A-secret-A-secret-A-0001";
  const B = "secret-B-secret-B-secret-B-secret-B-0002";

  afterEach(() => {
    vi.useRealTimers();
  });

  it("opens what it sealed", async () => {
    const sealer = new Sealer([A], "test");
    const sealed = await sealer.seal({ s: "state", n: 42 }, 60);
    expect(sealed.split(".")).toHaveLength(5);
    expect(sealed).not.toContain("state");
    const opened = await sealer.open(sealed);
    expect(opened).toMatchObject({ s: "state", n: 42 });
    expect(typeof opened?.exp).toBe("number");
  });

  it("refuses a tampered value", async () => {
    const sealer = new Sealer([A], "test");
    const sealed = await sealer.seal({ s: "state" }, 60);
    const parts = sealed.split(".");
    for (const index of [0, 2, 3, 4]) {
      const part = parts[index] as string;
      const middle = Math.floor(part.length / 2);
      const flipped = part[middle] === "A" ? "B" : "A";
      const changed = [...parts];
      changed[index] = `${part.slice(0, middle)}${flipped}${part.slice(middle + 1)}`;
      expect(await sealer.open(changed.join("."))).toBeUndefined();
    }
    expect(await sealer.open(parts.slice(0, 4).join("."))).toBeUndefined();
    expect(await sealer.open("")).toBeUndefined();
  });

  it("refuses a value sealed under another secret or for another purpose", async () => {
    const sealed = await new Sealer([A], "test").seal({ s: "state" }, 60);
    expect(await new Sealer([B], "test").open(sealed)).toBeUndefined();
    expect(await new Sealer([A], "another-purpose").open(sealed)).toBeUndefined();
  });

  it("refuses an expired value", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    const start = Date.now();
    const sealer = new Sealer([A], "test");
    const sealed = await sealer.seal({ s: "state" }, 60);
    vi.setSystemTime(start + 59_000);
    expect(await sealer.open(sealed)).toMatchObject({ s: "state" });
    vi.setSystemTime(start + 61_000);
    expect(await sealer.open(sealed)).toBeUndefined();
  });

  it("rotates: the first secret seals, every secret opens", async () => {
    const sealedUnderA = await new Sealer([A], "test").seal({ s: "old" }, 60);
    const rotated = new Sealer([B, A], "test");
    expect(await rotated.open(sealedUnderA)).toMatchObject({ s: "old" });
    const sealedUnderB = await rotated.seal({ s: "new" }, 60);
    expect(await new Sealer([B], "test").open(sealedUnderB)).toMatchObject({ s: "new" });
    expect(await new Sealer([A], "test").open(sealedUnderB)).toBeUndefined();
  });
});

describe("redirect URI checks", () => {
  const CALLBACK = "https://app.example.org/callback";
  const config = (extra: OIDCAuthOptions = {}) =>
    resolveConfig({
      logger: silentLogger,
      discoveryUrl: "https://idp.example.org/.well-known/openid-configuration",
      audience: "api",
      redirectUris: [CALLBACK],
      postLogoutRedirectUris: ["https://app.example.org/goodbye"],
      proxy: "https://app.example.org",
      ...extra,
    });
  const strict = config();
  const loopback = config({ allowLoopbackRedirects: true });

  async function refused(cfg: ReturnType<typeof config>, value: string | undefined) {
    await expectError(() => checkRedirectUri(cfg, value), 400, "invalid_request");
  }

  it("accepts an allow-listed redirect_uri exactly, unchanged", () => {
    expect(checkRedirectUri(strict, CALLBACK)).toBe(CALLBACK);
  });

  it("requires a redirect_uri", async () => {
    await refused(strict, undefined);
    await refused(strict, "");
  });

  it("refuses prefixes, suffixes, other hosts and other spellings of the allowed URI", async () => {
    for (const value of [
      `${CALLBACK}x`,
      `${CALLBACK}/extra`,
      `${CALLBACK}?next=/admin`,
      "https://app.example.org/call",
      "https://app.example.org.evil.example/callback",
      "https://evil.example/https://app.example.org/callback",
      "https://evil.example/callback",
      "http://app.example.org/callback",
      "https://app.example.org:443/callback",
      "https://APP.example.org/callback",
      "https://app.example.org/./callback",
      "https://app.example.org/%63allback",
    ]) {
      await refused(strict, value);
      await refused(loopback, value);
    }
  });

  it("refuses a trailing-slash difference", async () => {
    await refused(strict, `${CALLBACK}/`);
    const withSlash = config({ redirectUris: ["https://app.example.org/callback/"] });
    await refused(withSlash, CALLBACK);
    expect(checkRedirectUri(withSlash, `${CALLBACK}/`)).toBe(`${CALLBACK}/`);
  });

  it("accepts a redirect URI exactly as configured, even an origin without a path", () => {
    const originOnly = config({ redirectUris: ["https://app.example.org"] });
    expect(checkRedirectUri(originOnly, "https://app.example.org")).toBe("https://app.example.org");
  });

  it("refuses userinfo in the URI", async () => {
    await refused(strict, "https://user@app.example.org/callback");
    await refused(strict, "https://app.example.org@evil.example/callback");
    await refused(loopback, "http://user:pw@127.0.0.1:8080/cb");
    await refused(loopback, "http://evil.example@127.0.0.1:8080/cb");
  });

  it("refuses a fragment", async () => {
    await refused(strict, `${CALLBACK}#frag`);
    await refused(loopback, "http://127.0.0.1:8080/cb#frag");
  });

  it("refuses an empty fragment (a bare #) on a loopback URI", async () => {
    await refused(loopback, "http://127.0.0.1:8080/cb#");
  });

  it("refuses an empty userinfo (a bare @) on a loopback URI", async () => {
    await refused(loopback, "http://@127.0.0.1:8080/cb");
    await refused(loopback, "http://:@127.0.0.1:8080/cb");
  });

  it("refuses CR, LF, whitespace and backslashes", async () => {
    for (const value of [
      `${CALLBACK}\r\n`,
      `${CALLBACK}\nSet-Cookie: x=1`,
      `${CALLBACK}\t`,
      ` ${CALLBACK}`,
      "https://app.example.org\\@evil.example/callback",
      "https://app.example.org/callback\\",
      "http://127.0.0.1:8080\\@evil.example/cb",
      "http://127.0.0.1:8080/c b",
    ]) {
      await refused(strict, value);
      await refused(loopback, value);
    }
  });

  it("refuses schemes other than http and https", async () => {
    for (const value of [
      "javascript:alert(1)",
      "data:text/html,<script>alert(1)</script>",
      "file:///etc/passwd",
      "ftp://127.0.0.1/cb",
      "ws://127.0.0.1:8080/cb",
      "com.example.app://callback",
    ]) {
      await refused(loopback, value);
    }
    const custom = config({ redirectUris: ["com.example.app:/callback"] });
    await refused(custom, "com.example.app:/callback");
  });

  it("accepts loopback URIs on any port and path only when enabled", async () => {
    for (const value of [
      "http://127.0.0.1:8080/cb",
      "http://127.0.0.1:51234/any/path?x=1",
      "http://localhost:3000/callback",
      "http://[::1]:9000/cb",
      "http://127.0.0.1/cb",
    ]) {
      expect(checkRedirectUri(loopback, value)).toBe(value);
      await refused(strict, value);
    }
  });

  it("applies the loopback rule to http only and to real loopback hosts only", async () => {
    for (const value of [
      "https://127.0.0.1:8080/cb",
      "https://localhost:3000/cb",
      "http://127.0.0.1.evil.example/cb",
      "http://127.0.0.1.evil.example:8080/cb",
      "http://localhost.evil.example/cb",
      "http://evil.example/127.0.0.1/cb",
      "http://10.0.0.1:8080/cb",
      "http://0.0.0.0:8080/cb",
      "http://[::2]:8080/cb",
    ]) {
      await refused(loopback, value);
    }
  });
});

describe("post-logout redirect URI checks", () => {
  const config = (extra: OIDCAuthOptions = {}) =>
    resolveConfig({
      logger: silentLogger,
      discoveryUrl: "https://idp.example.org/.well-known/openid-configuration",
      audience: "api",
      postLogoutRedirectUris: ["https://app.example.org/goodbye"],
      proxy: "https://app.example.org",
      ...extra,
    });
  const cfg = config();

  async function refused(c: ReturnType<typeof config>, value: string) {
    await expectError(() => checkPostLogoutRedirectUri(c, value), 400, "invalid_request");
  }

  it("accepts an allow-listed absolute URI exactly", async () => {
    // the app's public URL elsewhere: only the allow-list speaks for app.example.org
    const elsewhere = config({ proxy: "https://api.example.org" });
    expect(checkPostLogoutRedirectUri(elsewhere, "https://app.example.org/goodbye")).toBe(
      "https://app.example.org/goodbye",
    );
    await refused(elsewhere, "https://app.example.org/goodbye/");
    await refused(elsewhere, "https://app.example.org/goodbyex");
    await refused(elsewhere, "https://evil.example/goodbye");
  });

  it("resolves a relative path against the proxy", () => {
    expect(checkPostLogoutRedirectUri(cfg, "/")).toBe("https://app.example.org/");
    expect(checkPostLogoutRedirectUri(cfg, "/signed-out?from=app")).toBe(
      "https://app.example.org/signed-out?from=app",
    );
    const based = config({ proxy: "https://app.example.org/base/" });
    expect(checkPostLogoutRedirectUri(based, "/bye")).toBe("https://app.example.org/base/bye");
  });

  it("refuses protocol-relative and backslash tricks that leave the proxy's origin", async () => {
    for (const value of [
      "//evil.example",
      "//evil.example/path",
      "/\\evil.example",
      "\\\\evil.example",
      "/bye\r\nLocation: https://evil.example",
      "/bye#frag",
    ]) {
      await refused(cfg, value);
    }
  });

  it("accepts an absolute target on the proxy's origin, as a relative path would lead there", async () => {
    expect(checkPostLogoutRedirectUri(cfg, "https://app.example.org/")).toBe(
      "https://app.example.org/",
    );
    expect(checkPostLogoutRedirectUri(cfg, "https://app.example.org/signed-out?x=1")).toBe(
      "https://app.example.org/signed-out?x=1",
    );
    // another origin: scheme, host or port differ
    await refused(cfg, "http://app.example.org/");
    await refused(cfg, "https://app.example.org:8443/");
    await refused(cfg, "https://app.example.org.evil.example/");
    await refused(cfg, "https://evil.example/?https://app.example.org/");
    // only canonical spellings, no userinfo or fragment
    await refused(cfg, "https://APP.example.org/");
    await refused(cfg, "https://user@app.example.org/");
    await refused(cfg, "https://app.example.org/#x");
    await refused(cfg, "https://app.example.org/a/../b");
    // no proxy: nothing is same-origin
    await refused(config({ proxy: "" }), "https://app.example.org/");
  });

  it("keeps an absolute same-origin target under the proxy's base path", async () => {
    const based = config({ proxy: "https://app.example.org/base" });
    expect(checkPostLogoutRedirectUri(based, "https://app.example.org/base")).toBe(
      "https://app.example.org/base",
    );
    expect(checkPostLogoutRedirectUri(based, "https://app.example.org/base/bye")).toBe(
      "https://app.example.org/base/bye",
    );
    await refused(based, "https://app.example.org/");
    await refused(based, "https://app.example.org/basement");
    await refused(based, "https://app.example.org/other/bye");
  });

  it("refuses relative paths when no proxy is configured", async () => {
    await refused(config({ proxy: "" }), "/bye");
  });

  it("accepts loopback targets only when loopback redirects are enabled", async () => {
    await refused(cfg, "http://127.0.0.1:8080/bye");
    const loopback = config({ allowLoopbackRedirects: true });
    expect(checkPostLogoutRedirectUri(loopback, "http://127.0.0.1:8080/bye")).toBe(
      "http://127.0.0.1:8080/bye",
    );
    await refused(loopback, "http://127.0.0.1.evil.example/bye");
    await refused(loopback, "https://127.0.0.1:8080/bye");
  });
});

describe("claims", () => {
  it("reads nested claims by dot path", () => {
    expect(readClaim({ a: { b: { c: "x" } } }, "a.b.c")).toBe("x");
    expect(readClaim({ a: { b: 1 } }, "a.missing")).toBeUndefined();
    expect(readClaim({ a: ["x"] }, "a.0")).toBeUndefined();
  });

  it("never follows __proto__, constructor or prototype", () => {
    const claims = JSON.parse(
      '{"__proto__": {"roles": ["admin"]}, "constructor": {"name": "x"}, "a": {}}',
    ) as Record<string, unknown>;
    expect(Object.hasOwn(claims, "__proto__")).toBe(true);
    expect(readClaim(claims, "__proto__")).toBeUndefined();
    expect(readClaim(claims, "__proto__.roles")).toBeUndefined();
    expect(readClaim(claims, "constructor")).toBeUndefined();
    expect(readClaim(claims, "constructor.name")).toBeUndefined();
    expect(readClaim(claims, "a.constructor")).toBeUndefined();
    expect(readClaim(claims, "a.__proto__")).toBeUndefined();
    expect(readClaim({}, "toString")).toBeUndefined();
    expect(readClaim({ a: {} }, "a.hasOwnProperty")).toBeUndefined();
  });

  it("flattens roles from strings and lists of strings, without duplicates", () => {
    const claims = {
      realm_access: { roles: ["user", "admin"] },
      groups: ["/staff"],
      roles: "user",
    };
    expect(flattenRoles(claims, ["realm_access.roles", "groups", "roles", "missing"])).toEqual([
      "user",
      "admin",
      "/staff",
    ]);
  });

  it("refuses an object-valued role claim with 401", async () => {
    await expectError(
      () => flattenRoles({ realm_access: { roles: { admin: true } } }, ["realm_access.roles"]),
      401,
      "invalid_token",
    );
    await expectError(() => flattenRoles({ roles: ["a", 1] }, ["roles"]), 401, "invalid_token");
    await expectError(() => flattenRoles({ roles: true }, ["roles"]), 401, "invalid_token");
    await expectError(() => flattenRoles({ roles: null }, ["roles"]), 401, "invalid_token");
  });

  it("toIDToken refuses a string exp and other mistyped standard claims", async () => {
    const base = { iss: "https://idp", sub: "s", iat: 1, exp: 2 };
    expect(toIDToken(base, []).sub).toBe("s");
    for (const wrong of [
      { exp: "2" },
      { iat: "1" },
      { nbf: "0" },
      { sub: 1 },
      { scope: ["a"] },
      { iss: null },
    ]) {
      await expectError(() => toIDToken({ ...base, ...wrong }, []), 401, "invalid_token");
    }
  });

  it("toIDToken copies no __proto__ key into the token", () => {
    const payload = JSON.parse(
      '{"iss":"https://idp","sub":"s","iat":1,"exp":2,"__proto__":{"admin":true}}',
    ) as Record<string, unknown>;
    const token = toIDToken(payload, []);
    expect(Object.hasOwn(token, "__proto__")).toBe(false);
    expect((token as Record<string, unknown>).admin).toBeUndefined();
    expect(Object.getPrototypeOf(token)).toBe(Object.prototype);
  });
});

describe("isWeakRsaKey", () => {
  const rsa = async (publicExponent: number[], modulusLength = 2048) =>
    (
      await crypto.subtle.generateKey(
        {
          name: "RSASSA-PKCS1-v1_5",
          modulusLength,
          publicExponent: new Uint8Array(publicExponent),
          hash: "SHA-256",
        },
        true,
        ["sign", "verify"],
      )
    ).publicKey;

  it("refuses exponents below 65537 and moduli under 2048 bits, and passes other key types", async () => {
    expect(isWeakRsaKey(await rsa([1, 0, 1]))).toBe(false);
    expect(isWeakRsaKey(await rsa([3]))).toBe(true);
    expect(isWeakRsaKey(await rsa([1, 0, 1], 1024))).toBe(true);
    const ec = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, [
      "sign",
      "verify",
    ]);
    expect(isWeakRsaKey(ec.publicKey)).toBe(false);
  });
});
