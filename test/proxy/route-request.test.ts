import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { ExperimentSnapshotSchema } from "../../gen/turnout/v1/routing_pb.js";
import { refKey, verifyRef } from "../../src/assign/feedback-ref.ts";
import { bucketOf } from "../../src/assign/hash.ts";
import {
  OptionsRewrite,
  RouteProblem,
  routeRequest,
  type RouteResult,
  type RoutedRequest,
} from "../../src/proxy/routing/route-request.ts";
import { compileRoutingTable, releaseUpstreams } from "../../src/proxy/snapshot/routing-table.ts";
import type { NodeUpstream } from "../../src/proxy/upstream/node-upstream.ts";
import { buildSnapshot } from "./proxy-harness.ts";

const KEY = refKey("route-request-test-secret");
const NO_HEADERS = {};

const snapshot = buildSnapshot({
  version: 7,
  nodes: [{ id: "n1", url: "http://127.0.0.1:1" }],
  routes: [
    {
      name: "split",
      seed: "split-seed",
      variants: [
        { name: "a", model: "m:a", options: { num_ctx: 8192 }, keepAlive: "300" },
        { name: "b", model: "m:b", keepAlive: "30m" },
      ],
      split: [
        { variant: "a", weight: 50 },
        { variant: "b", weight: 50 },
      ],
    },
    { name: "plain:latest", variants: [{ name: "p", model: "m:p" }] },
    {
      name: "exp",
      variants: [
        { name: "control", model: "m:c" },
        { name: "treat", model: "m:t" },
      ],
    },
  ],
});
// One experiment on "exp" over the whole layer, arms half and half, entered by region=eu only.
snapshot.experiments.push(
  create(ExperimentSnapshotSchema, {
    id: "e1",
    route: "exp",
    phase: 2,
    seed: "e1-phase-2",
    layer: "default",
    layerSeed: "layer-seed",
    layerRanges: [{ start: 0, end: 10000 }],
    arms: [
      { name: "control", variant: "control", ranges: [{ start: 0, end: 5000 }] },
      { name: "treat", variant: "treat", ranges: [{ start: 5000, end: 10000 }] },
    ],
    targeting: { attr: "region", eq: "eu" },
  }),
);
const upstreams = new Map<string, NodeUpstream>();
const table = compileRoutingTable(snapshot, upstreams, () => {});
after(() => releaseUpstreams(table, upstreams));

function routed(result: RouteResult): RoutedRequest {
  assert.equal(result.ok, true, result.ok ? "" : result.message);
  return result as RoutedRequest;
}

describe("the route stage", () => {
  it("answers not found, with the message both dialects send, for a model no route has", () => {
    assert.deepEqual(
      routeRequest(table, KEY, "r1", "nope:1", "u", NO_HEADERS, undefined, undefined, OptionsRewrite.Variant, undefined, null),
      {
        ok: false,
        problem: RouteProblem.NotFound,
        message: "model 'nope:1' not found",
        violations: [],
      },
    );
  });

  it("resolves a bare name to its :latest route and serves the default variant without a unit", () => {
    const r = routed(
      routeRequest(
        table,
        KEY,
        "r1",
        "plain",
        undefined,
        NO_HEADERS,
        undefined,
        undefined,
        OptionsRewrite.Variant,
        undefined,
        null,
      ),
    );
    assert.equal(r.route.name, "plain:latest");
    assert.equal(r.variant.name, "p");
    assert.equal(r.assignment.bucket, -1);
    assert.equal(r.options, undefined, "no client options and no variant options: the body keeps none");
    assert.equal(r.keepAlive, undefined, "no variant keep_alive and none from the client: none is forwarded");
  });

  it("assigns a unit by the route's split, exactly as its bucket says", () => {
    const seen = new Set<string>();
    for (const unit of ["alice", "bob", "carol", "dave", "erin", "frank"]) {
      const r = routed(
        routeRequest(table, KEY, "r1", "split", unit, NO_HEADERS, undefined, undefined, OptionsRewrite.Variant, undefined, null),
      );
      const bucket = bucketOf("split-seed", unit);
      assert.equal(r.assignment.bucket, bucket);
      assert.equal(r.variant.name, bucket < 5000 ? "a" : "b", unit);
      assert.equal(r.assignment.arm, r.variant.name);
      assert.equal(r.assignment.experiment, undefined);
      seen.add(r.variant.name);
    }
    assert.equal(seen.size, 2, "the units cover both arms");
  });

  it("rewrites options and keep_alive per rewrite: the variant's win, /v1 only drops runner options, show leaves both", () => {
    const unitOfA = ["u1", "u2", "u3", "u4", "u5", "u6", "u7", "u8"].find((u) => bucketOf("split-seed", u) < 5000) as string;
    const variant = routed(
      routeRequest(
        table,
        KEY,
        "r1",
        "split",
        unitOfA,
        NO_HEADERS,
        undefined,
        { num_ctx: 1, temperature: 0.5 },
        OptionsRewrite.Variant,
        undefined,
        null,
      ),
    );
    assert.deepEqual(variant.options, { temperature: 0.5, num_ctx: 8192 });
    assert.equal(variant.keepAlive, 300, "whole seconds are a number, as Ollama takes them");
    const none = routed(
      routeRequest(table, KEY, "r1", "split", unitOfA, NO_HEADERS, undefined, undefined, OptionsRewrite.Variant, undefined, null),
    );
    assert.deepEqual(none.options, { num_ctx: 8192 }, "the variant's options are added when the client sent none");
    const v1 = routed(
      routeRequest(
        table,
        KEY,
        "r1",
        "split",
        unitOfA,
        NO_HEADERS,
        undefined,
        { num_ctx: 1, top_p: 0.9 },
        OptionsRewrite.ClientOnly,
        undefined,
        null,
      ),
    );
    assert.deepEqual(v1.options, { top_p: 0.9 });
    assert.equal(v1.keepAlive, 300);
    assert.equal(
      routed(
        routeRequest(
          table,
          KEY,
          "r1",
          "split",
          unitOfA,
          NO_HEADERS,
          undefined,
          undefined,
          OptionsRewrite.ClientOnly,
          undefined,
          null,
        ),
      ).options,
      undefined,
    );
    const show = routed(
      routeRequest(
        table,
        KEY,
        "r1",
        "split",
        unitOfA,
        NO_HEADERS,
        undefined,
        { num_ctx: 1 },
        OptionsRewrite.None,
        undefined,
        null,
      ),
    );
    assert.equal(show.options, undefined);
    assert.equal(show.keepAlive, undefined);
    const unitOfB = ["u1", "u2", "u3", "u4", "u5", "u6", "u7", "u8"].find((u) => bucketOf("split-seed", u) >= 5000) as string;
    assert.equal(
      routed(
        routeRequest(
          table,
          KEY,
          "r1",
          "split",
          unitOfB,
          NO_HEADERS,
          undefined,
          undefined,
          OptionsRewrite.Variant,
          undefined,
          null,
        ),
      ).keepAlive,
      "30m",
    );
  });

  it("puts a targeted unit in the experiment's arm with a signed ref; others get the route's own assignment", () => {
    const eu = { "x-turnout-attr-region": "eu" };
    const arms = new Set<number>();
    for (const unit of ["alice", "bob", "carol", "dave"]) {
      const r = routed(
        routeRequest(table, KEY, `req-${unit}`, "exp", unit, eu, undefined, undefined, OptionsRewrite.Variant, undefined, null),
      );
      const arm = bucketOf("e1-phase-2", unit) < 5000 ? 0 : 1;
      assert.equal(r.variant.name, arm === 0 ? "control" : "treat");
      const e = r.assignment.experiment;
      assert.ok(e !== undefined, unit);
      assert.deepEqual({ id: e.id, phase: e.phase, arm: e.arm }, { id: "e1", phase: 2, arm });
      const check = verifyRef(e.ref, KEY);
      assert.ok(check.ok);
      assert.deepEqual(
        {
          experiment: check.fields.experiment,
          arm: check.fields.arm,
          requestId: check.fields.requestId,
          snapshotVersion: check.fields.snapshotVersion,
        },
        { experiment: "e1", arm, requestId: `req-${unit}`, snapshotVersion: 7 },
      );
      arms.add(arm);
    }
    assert.equal(arms.size, 2, "the units cover both arms");
    const us = routed(
      routeRequest(
        table,
        KEY,
        "r1",
        "exp",
        "alice",
        { "x-turnout-attr-region": "us" },
        undefined,
        undefined,
        OptionsRewrite.Variant,
        undefined,
        null,
      ),
    );
    assert.equal(us.assignment.experiment, undefined);
    assert.equal(us.variant.name, "control", "outside the rule: the route's default variant");
    const byMetadata = routed(
      routeRequest(
        table,
        KEY,
        "r1",
        "exp",
        "alice",
        NO_HEADERS,
        { region: "eu" },
        undefined,
        OptionsRewrite.Variant,
        undefined,
        null,
      ),
    );
    assert.equal(byMetadata.assignment.experiment?.id, "e1", "the body's metadata is an attribute source too");
    const noUnit = routed(
      routeRequest(table, KEY, "r1", "exp", undefined, eu, undefined, undefined, OptionsRewrite.Variant, undefined, null),
    );
    assert.equal(noUnit.assignment.experiment, undefined, "a request without a unit is not counted");
  });

  it("refuses attributes the experiment's targeting cannot read, naming the field", () => {
    const r = routeRequest(
      table,
      KEY,
      "r1",
      "exp",
      "alice",
      NO_HEADERS,
      { region: { nested: true } },
      undefined,
      OptionsRewrite.Variant,
      undefined,
      null,
    );
    assert.equal(r.ok, false);
    assert.equal(!r.ok && r.problem, RouteProblem.InvalidAttributes);
    assert.match(!r.ok ? r.message : "", /^metadata\.region: /);
    assert.deepEqual(!r.ok && r.violations.map((v) => v.field), ["metadata.region"]);
  });
});
