/**
 * Golden cases of the proxy's routing-table compile: each `test/testdata/routing-table/<case>.in.json`
 * (a RoutingSnapshot as protobuf JSON; content_hash may be left out) must compile to the table that
 * `<case>.out.json` summarises: plain data only (routes by name, variants and their nodes, arm
 * bucket ranges, experiments with their arms, the settings the proxy resolved).
 * `UPDATE_GOLDEN=1 node --test test/proxy/routing-table-golden.test.ts` rewrites the outputs.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { describe, it } from "node:test";
import { fromJson, type JsonValue } from "@bufbuild/protobuf";
import { RoutingSnapshotSchema, type RoutingSnapshot } from "../../gen/turnout/v1/routing_pb.js";
import { compileRoutingTable, releaseUpstreams } from "../../src/proxy/snapshot/routing-table.ts";
import { checkSnapshot } from "../../src/snapshot/check.ts";
import { snapshotContentHash } from "../../src/snapshot/content-hash.ts";
import { goldenCases, goldenSuite, readJsonFile } from "../support/golden-files.ts";

/** The table compile under test (the one place that says where it lives): a checked snapshot in, the table's summary out. */
async function compileTable(snapshot: RoutingSnapshot): Promise<JsonValue> {
  const upstreams: Parameters<typeof compileRoutingTable>[1] = new Map();
  const table = compileRoutingTable(snapshot, upstreams, () => {});
  try {
    return summarise(table);
  } finally {
    table.retire();
    await releaseUpstreams(table, upstreams);
  }
}

type Table = ReturnType<typeof compileRoutingTable>;
type Route = Table["routes"] extends ReadonlyMap<string, infer R> ? R : never;
type Experiments = NonNullable<Route["experiments"]>;

/** Units whose layer slot and arm the summary shows for routes with experiments (targeting not applied). */
const UNITS = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"];

/** `[start, end)` ranges of the buckets `table` gives to `index`. */
function rangesOf(table: Int32Array, index: number): string[] {
  const out: string[] = [];
  for (let b = 0; b < table.length; b++) {
    if (table[b] !== index || table[b - 1] === index) continue;
    let end = b;
    while (table[end] === index) end++;
    out.push(`[${b}, ${end})`);
  }
  return out;
}

function experimentsOf(rx: Experiments): JsonValue {
  return {
    layer: [...rx.layer.experiments],
    slots: rx.bySlot.map((e) =>
      e === undefined
        ? null
        : {
            id: e.id,
            phase: e.phase,
            arms: e.arms.map((v, i) => ({ name: e.armNames[i], variant: v.name, buckets: rangesOf(e.buckets, i) })),
            targeting: { attributes: [...e.targeting.attributes], usesUnit: e.targeting.usesUnit },
          },
    ),
    units: Object.fromEntries(
      UNITS.map((unit) => {
        const layerBucket = rx.layer.bucketOf(unit);
        const slot = rx.layer.experimentOf(unit);
        const e = slot < 0 ? undefined : rx.bySlot[slot];
        if (slot < 0) return [unit, `layer bucket ${layerBucket}: no experiment`];
        if (e === undefined) return [unit, `layer bucket ${layerBucket}: ${rx.layer.experiments[slot]} (another route)`];
        const bucket = e.bucketOf(unit);
        const arm = e.buckets[bucket];
        return [unit, `layer bucket ${layerBucket}: ${e.id}, bucket ${bucket}: ${arm < 0 ? "no arm" : e.armNames[arm]}`];
      }),
    ),
  };
}

function routeOf(route: Route): JsonValue {
  const split = route.buckets;
  const unowned = split === null ? [] : rangesOf(split, -1);
  return {
    defaultVariant: route.defaultVariant.name,
    seed: route.seed,
    modelReplacement: route.modelReplacement.toString("utf8"),
    variants: Object.fromEntries(
      [...route.variants].map(([name, v]) => [
        name,
        {
          model: v.model,
          nodes: v.nodes.map((n) => n.id),
          options: v.options ?? null,
          keepAlive: v.keepAlive,
          modelPattern: v.modelPattern.toString("utf8"),
        },
      ]),
    ),
    split: split === null ? null : route.arms.map((v, i) => ({ variant: v.name, buckets: rangesOf(split, i) })),
    ...(unowned.length > 0 ? { unownedBuckets: unowned } : {}),
    experiments: route.experiments === null ? null : experimentsOf(route.experiments),
  };
}

/** The table as plain data (no pools, queues, functions or clocks). */
function summarise(table: Table): JsonValue {
  return {
    version: table.version,
    settings: JSON.parse(JSON.stringify(table.settings)) as JsonValue,
    nodes: table.nodes.map((n) => ({
      id: n.id,
      baseUrl: n.upstream.baseUrl,
      pathPrefix: n.upstream.prefix,
      maxConcurrent: n.maxConcurrent,
    })),
    routes: Object.fromEntries([...table.routes].map(([name, route]) => [name, routeOf(route)])),
  };
}

/** A case's snapshot, with its content hash filled in when the file leaves it out, checked as the proxy checks it. */
function snapshotOf(json: unknown, file: string): RoutingSnapshot {
  const snapshot = fromJson(RoutingSnapshotSchema, json as JsonValue);
  if (snapshot.contentHash === "") snapshot.contentHash = snapshotContentHash(snapshot);
  assert.deepEqual(checkSnapshot(snapshot), [], `${file} is not a snapshot the proxy would apply`);
  return snapshot;
}

const DIR = fileURLToPath(new URL("../testdata/routing-table/", import.meta.url));

goldenSuite("routing-table golden cases (test/testdata/routing-table)", DIR, (json, c) =>
  compileTable(snapshotOf(json, c.input)),
);

describe("routing-table golden cases, beyond their files", () => {
  it("has at least 4 cases, among them splits and experiments", () => {
    const outputs = goldenCases(DIR).map(
      (c) => readJsonFile(c.output) as { routes: Record<string, { split: unknown; experiments: unknown }> },
    );
    assert.ok(outputs.length >= 4, `only ${outputs.length} cases`);
    assert.ok(
      outputs.some((o) => Object.values(o.routes).some((r) => r.split !== null)),
      "a case compiles a split",
    );
    assert.ok(
      outputs.some((o) => Object.values(o.routes).some((r) => r.experiments !== null)),
      "a case compiles experiments",
    );
  });
});
