import { test } from "node:test";
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { create } from "@bufbuild/protobuf";
import { pino } from "pino";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { bearer } from "../../src/cli/admin-client.ts";
import * as v1 from "../../gen/grpc/reflection/v1/reflection_pb.js";
import { AdminService } from "../../gen/turnout/v1/admin_pb.js";
import { KeyService } from "../../gen/turnout/v1/keys_pb.js";
import { Role } from "../../gen/turnout/v1/routing_pb.js";
import { startAdminServer } from "../../src/control/admin/admin-server.ts";
import { createLogger } from "../../src/log.ts";
import { ADMIN_TOKEN, startAuthPlane } from "./auth-harness.ts";

/** A logger whose lines the test can read. */
function capturingLogger() {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      for (const line of String(chunk).split("\n")) if (line.trim() !== "") lines.push(JSON.parse(line));
      done();
    },
  });
  return { logger: pino({ level: "info" }, sink), lines };
}

/** Lists services over gRPC reflection (v1, HTTP/2), sending `token` when given. */
async function reflectServices(url: string, token?: string): Promise<string[]> {
  const sessions = new Http2SessionManager(url);
  try {
    const client = createClient(
      v1.ServerReflection,
      createGrpcTransport({
        baseUrl: url,
        sessionManager: sessions,
        interceptors: token === undefined ? [] : [bearer(token)],
      }),
    );
    async function* ask() {
      yield create(v1.ServerReflectionRequestSchema, { messageRequest: { case: "listServices", value: "*" } });
    }
    for await (const res of client.serverReflectionInfo(ask())) {
      if (res.messageResponse.case === "listServicesResponse") return res.messageResponse.value.service.map((s) => s.name);
    }
    return [];
  } finally {
    sessions.abort();
  }
}

const metrics = (url: string, token?: string) =>
  fetch(`${url}/metrics`, { headers: token === undefined ? {} : { authorization: `Bearer ${token}` } });

test("on loopback with no admin token and no admin key, the admin API is open and says so in one log line", async (t) => {
  const { logger, lines } = capturingLogger();
  const plane = await startAuthPlane(t, { logger });
  const open = lines.filter((l) => /without credentials/.test(String(l.msg)));
  assert.equal(open.length, 1, JSON.stringify(lines.map((l) => l.msg)));
  assert.equal(open[0].level, 40, "a warning");
  await plane.client(AdminService).setWeights({ route: "chat", weights: [{ variant: "big", weight: 100 }] });
  assert.equal((await metrics(plane.url)).status, 200);
  assert.ok((await reflectServices(plane.url)).includes("turnout.v1.KeyService"));
  const entries = await plane.controlPlane.audit.list();
  assert.deepEqual(
    entries.map((e) => [e.keyId, e.method]),
    [["anonymous", "turnout.v1.AdminService/SetWeights"]],
    "an anonymous admin, audited as such",
  );
});

test("creating an admin key closes an open admin port: from then on every call needs a key", async (t) => {
  const plane = await startAuthPlane(t);
  const made = await plane.client(KeyService).createKey({ name: "first-admin", role: Role.ADMIN });
  assert.equal(made.key?.createdBy, "anonymous");
  await assert.rejects(
    plane.client(AdminService).listNodes({}),
    (e: unknown) => ConnectError.from(e).code === Code.Unauthenticated,
  );
  assert.equal((await plane.client(AdminService, made.token).listNodes({})).nodes.length, 1);
  // a revoked admin key still counts: revoking it does not open the port again
  await plane.client(KeyService, made.token).revokeKey({ id: made.key!.id });
  await assert.rejects(
    plane.client(AdminService).listNodes({}),
    (e: unknown) => ConnectError.from(e).code === Code.Unauthenticated,
  );
});

test("a client key alone keeps a loopback admin port open (client keys are for traffic)", async (t) => {
  const plane = await startAuthPlane(t);
  await plane.client(KeyService).createKey({ name: "app", role: Role.CLIENT });
  assert.equal((await plane.client(AdminService).listNodes({})).nodes.length, 1);
});

test("/metrics and gRPC reflection need a viewer key once authentication is on", async (t) => {
  const plane = await startAuthPlane(t, { adminToken: ADMIN_TOKEN });
  const keys = plane.client(KeyService, ADMIN_TOKEN);
  const viewer = (await keys.createKey({ name: "prometheus", role: Role.VIEWER })).token;
  const client = (await keys.createKey({ name: "app", role: Role.CLIENT })).token;

  const none = await metrics(plane.url);
  assert.equal(none.status, 401);
  assert.equal(none.headers.get("www-authenticate"), "Bearer");
  assert.equal(((await none.json()) as { code: string }).code, "unauthenticated");
  assert.equal((await metrics(plane.url, client)).status, 403);
  const ok = await metrics(plane.url, viewer);
  assert.equal(ok.status, 200);
  assert.match(await ok.text(), /turnout_/);

  await assert.rejects(reflectServices(plane.url), (e: unknown) => ConnectError.from(e).code === Code.Unauthenticated);
  await assert.rejects(reflectServices(plane.url, client), (e: unknown) => ConnectError.from(e).code === Code.PermissionDenied);
  assert.ok((await reflectServices(plane.url, viewer)).includes("turnout.v1.AdminService"));
});

test("an admin API on a non-loopback address with no credentials refuses to start, naming TURNOUT_ADMIN_TOKEN", async (t) => {
  const plane = await startAuthPlane(t);
  const logger = createLogger({ level: "silent" });
  await assert.rejects(
    startAdminServer({ port: 0, host: "0.0.0.0", controlPlane: plane.controlPlane, logger }),
    (err: unknown) => {
      assert.ok(err instanceof Error);
      assert.equal((err as { code?: string }).code, "failed_precondition");
      assert.match(
        err.message,
        /binds 0\.0\.0\.0, which is not loopback, with no admin token: set TURNOUT_ADMIN_TOKEN \(or auth\.admin_token_file\)/,
      );
      return true;
    },
  );
  const tooShort = startAdminServer({
    port: 0,
    host: "0.0.0.0",
    controlPlane: plane.controlPlane,
    logger,
    auth: { adminToken: "short" },
  });
  await assert.rejects(tooShort, /TURNOUT_ADMIN_TOKEN .*at least 16 characters, got 5/);

  // with a token it starts, and enforces
  const server = await startAdminServer({
    port: 0,
    host: "0.0.0.0",
    controlPlane: plane.controlPlane,
    logger,
    auth: { adminToken: ADMIN_TOKEN },
  });
  t.after(() => server.close());
  const url = server.url.replace("0.0.0.0", "127.0.0.1");
  assert.equal((await metrics(url)).status, 401);
  assert.equal((await metrics(url, ADMIN_TOKEN)).status, 200);

  // and so does one once an admin key is stored, without a token
  await plane.client(KeyService).createKey({ name: "ops", role: Role.OPERATOR });
  const keyed = await startAdminServer({ port: 0, host: "0.0.0.0", controlPlane: plane.controlPlane, logger });
  t.after(() => keyed.close());
  assert.equal((await metrics(keyed.url.replace("0.0.0.0", "127.0.0.1"))).status, 401);
});
