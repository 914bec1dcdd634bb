import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { DevIdp } from "@oidc-auth/dev-idp";
import { startDevIdp } from "@oidc-auth/dev-idp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Logger, OIDCAuthOptions } from "../src/index.js";
import {
  diagnoseDiscoveryFailure,
  MemoryBrokerStore,
  NotReadyError,
  OIDCAuth,
  silentLogger,
} from "../src/index.js";

const CLIENT_SECRET = "oidc-auth-demo-secret";
const SECRET_A = "ready-secret-A-ready-secret-A-ready-0001";
const SECRET_B = "ready-secret-B-ready-secret-B-ready-0002";

let idp: DevIdp;
/** A small HTTP server answering what each test puts in `routes` (hostile or broken IdPs). */
let faults: Server;
let faultsUrl: string;
const routes = new Map<string, (res: import("node:http").ServerResponse) => void>();
/** A loopback port nothing listens on. */
let closedPort: number;

beforeAll(async () => {
  idp = await startDevIdp();
  faults = createServer((req, res) => {
    const route = routes.get(new URL(req.url ?? "/", "http://x").pathname);
    if (route) route(res);
    else res.writeHead(404, { "content-type": "text/plain" }).end("not here");
  });
  await new Promise<void>((resolve) => faults.listen(0, "127.0.0.1", resolve));
  faultsUrl = `http://127.0.0.1:${(faults.address() as AddressInfo).port}`;
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  closedPort = (probe.address() as AddressInfo).port;
  await new Promise((resolve) => probe.close(resolve));
});
afterAll(async () => {
  faults?.closeAllConnections();
  await new Promise((resolve) => faults?.close(resolve));
  await idp?.stop();
});

/** A logger that keeps every line (message and fields as JSON). */
function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const keep = (message: string, fields?: Record<string, unknown>) =>
    lines.push(`${message} ${JSON.stringify(fields ?? {})}`);
  return { lines, debug: keep, info: keep, warn: keep, error: keep };
}

function auth(extra: OIDCAuthOptions = {}): OIDCAuth {
  return new OIDCAuth({
    clientId: "oidc-auth-demo",
    clientSecret: CLIENT_SECRET,
    discoveryUrl: idp.discoveryUrl,
    audience: idp.audience,
    secret: SECRET_A,
    logger: silentLogger,
    ...extra,
  });
}

/** `ready()`'s rejection, which must be a NotReadyError. */
async function notReady(instance: OIDCAuth): Promise<NotReadyError> {
  const err = await instance.ready().then(
    () => expect.fail("ready() resolved"),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(NotReadyError);
  return err as NotReadyError;
}

describe("auth.ready() and auth.health()", () => {
  it("resolves against a reachable IdP and names what it checked", async () => {
    const report = await auth().ready();
    expect(report.ok).toBe(true);
    expect(report.checks.map((c) => c.name)).toEqual(["discovery", "keys"]);
    expect(report.checks[0]?.message).toContain(idp.issuer);
  });

  it("in broker mode also opens the store and unseals its signing key", async () => {
    const instance = auth({ brokerMode: true, brokerStoreUrl: "memory://" });
    const report = await instance.ready();
    expect(report.checks.map((c) => [c.name, c.ok])).toEqual([
      ["discovery", true],
      ["keys", true],
      ["store", true],
      ["signing-key", true],
    ]);
    await instance.close();
  });

  it("says the connection was refused, with the URL, and a readiness answer of 503", async () => {
    const url = `http://127.0.0.1:${closedPort}/realms/demo/.well-known/openid-configuration`;
    const log = recordingLogger();
    const instance = auth({ discoveryUrl: url, logger: log });
    const err = await notReady(instance);
    expect(err.message).toContain(url);
    expect(err.message).toMatch(/refused \(ECONNREFUSED\)/);
    expect(err.report.checks).toEqual([
      expect.objectContaining({ name: "discovery", ok: false, cause: "refused" }),
    ]);
    // the log line of the failed discovery says the same, without any secret
    expect(log.lines.join("\n")).toContain(url);
    expect(log.lines.join("\n")).toContain('"cause":"refused"');
    expect(log.lines.join("\n")).not.toContain(CLIENT_SECRET);
    expect(log.lines.join("\n")).not.toContain(SECRET_A);

    const probe = await instance.healthResponse();
    expect(probe.status).toBe(503);
    expect(await probe.json()).toEqual({ status: "unavailable", checks: { discovery: "refused" } });
  });

  it("says the host name does not resolve", async () => {
    const url = "https://idp.does-not-exist.invalid/.well-known/openid-configuration";
    const err = await notReady(auth({ discoveryUrl: url, timeoutSec: 5 }));
    expect(err.report.checks[0]?.cause).toBe("dns");
    expect(err.message).toContain("idp.does-not-exist.invalid does not resolve");
    expect(err.message).toContain(url);
  });

  it("says the TLS handshake failed (https to a plain-http server)", async () => {
    const url = `${faultsUrl.replace("http:", "https:")}/.well-known/openid-configuration`;
    const err = await notReady(auth({ discoveryUrl: url }));
    expect(err.report.checks[0]?.cause).toBe("tls");
    expect(err.message).toMatch(/TLS handshake with 127\.0\.0\.1:\d+ failed/);
  });

  it("says the IdP did not answer in time", async () => {
    routes.set("/slow/.well-known/openid-configuration", () => {
      // never answers
    });
    const url = `${faultsUrl}/slow/.well-known/openid-configuration`;
    const err = await notReady(auth({ discoveryUrl: url, timeoutSec: 0.3 }));
    expect(err.report.checks[0]?.cause).toBe("timeout");
    expect(err.message).toContain("no answer within 0.3 s");
  });

  it("names the HTTP status of a wrong discovery URL", async () => {
    const url = `${faultsUrl}/wrong/.well-known/openid-configuration`;
    const err = await notReady(auth({ discoveryUrl: url }));
    expect(err.report.checks[0]).toMatchObject({ cause: "http-status" });
    expect(err.message).toContain("HTTP 404");
    expect(err.message).toContain(url);
  });

  it("says the answer is not JSON", async () => {
    routes.set("/html/.well-known/openid-configuration", (res) =>
      res.writeHead(200, { "content-type": "text/html" }).end("<html>login</html>"),
    );
    const err = await notReady(
      auth({ discoveryUrl: `${faultsUrl}/html/.well-known/openid-configuration` }),
    );
    expect(err.report.checks[0]?.cause).toBe("not-json");
  });

  it("names both issuers when the document's issuer is not the expected one", async () => {
    routes.set("/realms/demo/.well-known/openid-configuration", (res) =>
      res
        .writeHead(200, { "content-type": "application/json" })
        .end(JSON.stringify({ issuer: "https://kc.internal:8443/realms/demo" })),
    );
    const url = `${faultsUrl}/realms/demo/.well-known/openid-configuration`;
    const err = await notReady(auth({ discoveryUrl: url }));
    expect(err.report.checks[0]?.cause).toBe("issuer-mismatch");
    expect(err.message).toContain('"https://kc.internal:8443/realms/demo"');
    expect(err.message).toContain(`"${faultsUrl}/realms/demo"`);
  });

  it("checks the key set: refused jwks_uri is reported with its URL", async () => {
    const jwksUri = `http://127.0.0.1:${closedPort}/jwks`;
    const err = await notReady(auth({ jwksUri }));
    expect(err.report.checks.map((c) => [c.name, c.ok, c.cause])).toEqual([
      ["discovery", true, undefined],
      ["keys", false, "refused"],
    ]);
    expect(err.message).toContain(jwksUri);
  });

  it("recovers: the next check after the IdP came back passes", async () => {
    let up = false;
    routes.set("/flaky/.well-known/openid-configuration", (res) => {
      if (!up) return void res.writeHead(503).end();
      res
        .writeHead(200, { "content-type": "application/json" })
        .end(JSON.stringify({ issuer: `${faultsUrl}/flaky`, jwks_uri: `${idp.issuer}/jwks` }));
    });
    // No back-off (jwksCooldownSec 0), so the next check asks the IdP again at once.
    const instance = auth({
      discoveryUrl: `${faultsUrl}/flaky/.well-known/openid-configuration`,
      jwksCooldownSec: 0,
      trustedJwksOrigins: [new URL(idp.issuer).origin], // the fault server's issuer, the IdP's keys
    });
    const first = await instance.health();
    expect(first.checks[0]).toMatchObject({ ok: false, cause: "http-status" });
    expect(first.checks[0]?.message).toContain("HTTP 503");
    up = true;
    expect((await instance.ready()).ok).toBe(true);
  });

  it("refuses to start on a store sealed with another secret, naming the store and what to do", async () => {
    const store = new MemoryBrokerStore();
    const first = auth({ brokerMode: true, brokerStore: store, secret: SECRET_A });
    await first.ready(); // generates and seals the signing key with SECRET_A
    const second = auth({ brokerMode: true, brokerStore: store, secret: SECRET_B });
    const err = await notReady(second);
    const failed = err.report.checks.filter((c) => !c.ok);
    expect(failed).toEqual([expect.objectContaining({ name: "signing-key", cause: "sealed" })]);
    expect(err.message).toContain("in memory:// was sealed with another secret");
    expect(err.message).toContain("OIDC_BROKER_STORE_URL");
    expect(err.message).not.toContain(SECRET_A);
    expect(err.message).not.toContain(SECRET_B);
    // both secrets, the new one first: it opens again
    const rotated = auth({ brokerMode: true, brokerStore: store, secret: [SECRET_B, SECRET_A] });
    expect((await rotated.ready()).ok).toBe(true);
  });
});

describe("diagnoseDiscoveryFailure", () => {
  const url =
    "https://user:pw@kc.example.org/realms/demo/.well-known/openid-configuration?x=secret";
  const fetchFailed = (cause: unknown) => new TypeError("fetch failed", { cause });
  const coded = (code: string) => Object.assign(new Error("upstream text"), { code });

  it("reads the cause where each runtime puts it, and never shows userinfo or query", () => {
    const cases: [unknown, string][] = [
      [fetchFailed(coded("ENOTFOUND")), "dns"],
      [fetchFailed(new AggregateError([coded("ECONNREFUSED"), coded("ECONNREFUSED")])), "refused"],
      [fetchFailed(coded("CERT_HAS_EXPIRED")), "tls"],
      [fetchFailed(coded("ERR_TLS_CERT_ALTNAME_INVALID")), "tls"],
      [fetchFailed(coded("UND_ERR_CONNECT_TIMEOUT")), "timeout"],
      [new DOMException("The operation timed out.", "TimeoutError"), "timeout"],
      [new Error("Network connection lost."), "network"], // workerd
    ];
    for (const [err, cause] of cases) {
      const diagnosis = diagnoseDiscoveryFailure(url, err);
      expect(diagnosis.cause, cause).toBe(cause);
      expect(diagnosis.transient).toBe(true);
      expect(diagnosis.url).toBe(
        "https://kc.example.org/realms/demo/.well-known/openid-configuration",
      );
      expect(diagnosis.message).not.toMatch(/pw|secret|upstream text/);
    }
  });
});
