/**
 * The content hash of a RoutingSnapshot: what a snapshot says, independent of when and as which
 * version it was published. Identical content republished has the same hash, so the control plane
 * can recognise a no-op and a proxy can verify what it received.
 */
import { createHash } from "node:crypto";
import { clone, toBinary, type JsonValue } from "@bufbuild/protobuf";
import { RoutingSnapshotSchema, type RoutingSnapshot } from "../../gen/turnout/v1/routing_pb.js";

/** Copy of `value` with every object's keys in sorted order (maps serialise in key order). */
function sortedJson(value: JsonValue): JsonValue {
  if (Array.isArray(value)) return value.map(sortedJson);
  if (value !== null && typeof value === "object") {
    const out: { [k: string]: JsonValue } = {};
    for (const key of Object.keys(value).sort()) out[key] = sortedJson(value[key]);
    return out;
  }
  return value;
}

function sortedRecord(record: { [key: string]: string }): { [key: string]: string } {
  const out: { [key: string]: string } = {};
  for (const key of Object.keys(record).sort()) out[key] = record[key];
  return out;
}

/**
 * Hex SHA-256 of `toBinary(snapshot)` with `version`, `parent_version`, `content_hash` and
 * `created_at` cleared. Map entries (node labels, variant options) are hashed in sorted key order
 * so that the hash does not depend on insertion order.
 */
export function snapshotContentHash(snapshot: RoutingSnapshot): string {
  const content = clone(RoutingSnapshotSchema, snapshot);
  content.version = 0n;
  content.parentVersion = 0n;
  content.contentHash = "";
  content.createdAt = undefined;
  for (const node of content.nodes) node.labels = sortedRecord(node.labels);
  for (const route of content.routes) {
    for (const variant of route.variants) {
      if (variant.options !== undefined) variant.options = sortedJson(variant.options) as typeof variant.options;
    }
  }
  for (const e of content.experiments) if (e.targeting !== undefined) e.targeting = sortedJson(e.targeting) as typeof e.targeting;
  return createHash("sha256").update(toBinary(RoutingSnapshotSchema, content)).digest("hex");
}
