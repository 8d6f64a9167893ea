import { test } from "node:test";
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { request } from "undici";
import { BadRequestSchema } from "../../gen/turnout/v1/error_details_pb.js";
import { NodeSchema, RouteSchema } from "../../gen/turnout/v1/routing_pb.js";
import { removeDir, startPlane, type Plane } from "./admin-harness.ts";

async function plane(t: { after: (fn: () => Promise<void> | void) => void }): Promise<Plane> {
  const p = await startPlane({
    bootstrap: {
      nodes: [create(NodeSchema, { id: "gpu-1", baseUrl: "http://127.0.0.1:11434" })],
      routes: [
        create(RouteSchema, {
          name: "chat",
          defaultVariant: "stable",
          variants: [
            { name: "stable", model: "qwen3:32b" },
            { name: "canary", model: "qwen3:8b" },
          ],
        }),
      ],
    },
  });
  t.after(async () => {
    await p.close();
    removeDir(p.dir);
  });
  return p;
}

/** The field violations carried by the error `call` rejects with, which must be InvalidArgument. */
async function violationsOf(call: Promise<unknown>): Promise<{ field: string; description: string }[]> {
  try {
    await call;
  } catch (err) {
    const e = ConnectError.from(err);
    assert.equal(Code[e.code], Code[Code.InvalidArgument], e.message);
    const [detail, ...more] = e.findDetails(BadRequestSchema);
    assert.ok(detail, `no BadRequest detail on ${e.message}`);
    assert.equal(more.length, 0);
    return detail.fieldViolations.map((v) => ({ field: v.field, description: v.description }));
  }
  assert.fail("expected the call to fail");
}

test("a bad PutRoute answers InvalidArgument with a BadRequest detail naming each field (Connect and gRPC)", async (t) => {
  const p = await plane(t);
  const bad = create(RouteSchema, {
    name: "chat",
    defaultVariant: "stable",
    variants: [
      { name: "stable", model: "qwen3:32b" },
      { name: "canary", model: "" },
    ],
    arms: [
      { variant: "stable", weight: 70 },
      { variant: "canary", weight: 20 },
    ],
  });
  const want = [
    { field: "route.variants[1].model", description: "must not be empty" },
    { field: "route.arms", description: "weights must sum to 100, got 90" },
  ];
  assert.deepEqual(await violationsOf(p.admin.putRoute({ route: bad })), want);
  const grpc = p.clientWith((baseUrl) => createGrpcTransport({ baseUrl }));
  assert.deepEqual(await violationsOf(grpc.putRoute({ route: bad })), want);
  // A reference the whole state cannot resolve is named in the request's terms too.
  const dangling = create(RouteSchema, {
    name: "chat",
    defaultVariant: "stable",
    variants: [{ name: "stable", model: "qwen3:32b", nodes: ["gpu-9"] }],
  });
  assert.deepEqual(await violationsOf(p.admin.putRoute({ route: dangling })), [
    { field: "route.variants[0].nodes[0]", description: 'node "gpu-9" does not exist' },
  ]);
  assert.equal((await p.admin.getSnapshot({})).snapshot?.version, 1n, "nothing was published");
});

test("a bad SetWeights answers InvalidArgument with a BadRequest detail a plain HTTP client reads as JSON", async (t) => {
  const p = await plane(t);
  const weights = [
    { variant: "stable", weight: 90 },
    { variant: "nope", weight: 20 },
  ];
  assert.deepEqual(await violationsOf(p.admin.setWeights({ route: "chat", weights })), [
    { field: "weights[1].variant", description: '"nope" is not a variant of the route' },
    { field: "weights", description: "weights must sum to 100, got 110" },
  ]);
  // Connect JSON over HTTP/1.1 (what curl sees): the detail's type, and its fields under "debug".
  const res = await request(`${p.server.url}/turnout.v1.AdminService/SetWeights`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ route: "chat", weights: [{ variant: "stable", weight: 50 }] }),
  });
  assert.equal(res.statusCode, 400);
  const body = (await res.body.json()) as { code: string; details: { type: string; value: string; debug: unknown }[] };
  assert.equal(body.code, "invalid_argument");
  assert.equal(body.details.length, 1);
  assert.equal(body.details[0].type, "turnout.v1.BadRequest");
  assert.deepEqual(body.details[0].debug, {
    fieldViolations: [{ field: "weights", description: "weights must sum to 100, got 50" }],
  });
});

test("errors without violations carry no detail", async (t) => {
  const p = await plane(t);
  await assert.rejects(p.admin.getRoute({ name: "gone" }), (err: unknown) => {
    const e = ConnectError.from(err);
    assert.equal(Code[e.code], Code[Code.NotFound]);
    assert.deepEqual(e.findDetails(BadRequestSchema), []);
    return true;
  });
});
