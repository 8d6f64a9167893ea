/**
 * Bus payloads of exactly the shapes the producers publish (JSON forms of turnout.v1 messages):
 * ProxyStatus from the generated schema (it exists), NodeHealthChanged and RolloutEvent as plain
 * objects with the JSON fields their producers are adding (`proxy, node, baseUrl, healthy,
 * reason, at`; `rolloutId, route, fromVariant, toVariant, kind, reason, step, canaryPercent, at`).
 */
import { create, toJsonString } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { ApplyState, ProxyStatusSchema } from "../../gen/turnout/v1/events_pb.js";

const encoder = new TextEncoder();

/** A ProxyStatus NACK as the status reporter publishes it. */
export function proxyNack(fields: { id: string; version: number; appliedVersion: number; error: string }): Uint8Array {
  const status = create(ProxyStatusSchema, {
    id: fields.id,
    host: "host-a",
    version: BigInt(fields.version),
    appliedVersion: BigInt(fields.appliedVersion),
    state: ApplyState.NACK,
    error: fields.error,
    heartbeatAt: timestampFromMs(Date.parse("2026-12-01T18:00:00Z")),
    heartbeatIntervalMs: 1000,
    url: "http://127.0.0.1:8080",
  });
  return encoder.encode(toJsonString(ProxyStatusSchema, status));
}

/** A ProxyStatus ACK. */
export function proxyAck(id: string, version: number): Uint8Array {
  return encoder.encode(toJsonString(ProxyStatusSchema, create(ProxyStatusSchema, { id, version: BigInt(version), appliedVersion: BigInt(version), state: ApplyState.ACK })));
}

/** NodeHealthChanged's JSON form. */
export interface NodeHealthChangedJson {
  proxy: string;
  node: string;
  baseUrl: string;
  healthy: boolean;
  reason: string;
  at: string;
}

export function nodeHealthChanged(fields: Partial<NodeHealthChangedJson> & Pick<NodeHealthChangedJson, "node" | "healthy">): Uint8Array {
  const event: NodeHealthChangedJson = { proxy: "proxy-a", baseUrl: "http://10.0.0.2:11434", reason: "", at: "2026-12-01T18:00:01Z", ...fields };
  return encoder.encode(JSON.stringify(event));
}

/** RolloutEvent's JSON form. */
export interface RolloutEventJson {
  rolloutId: string;
  route: string;
  fromVariant: string;
  toVariant: string;
  kind: string;
  reason: string;
  step: number;
  canaryPercent: number;
  at: string;
}

export function rolloutEvent(fields: Partial<RolloutEventJson> & Pick<RolloutEventJson, "kind">): Uint8Array {
  const event: RolloutEventJson = {
    rolloutId: "ro-42",
    route: "qwen3-32b",
    fromVariant: "stable",
    toVariant: "canary",
    reason: "error rate 0.1 > 0.02",
    step: 2,
    canaryPercent: 10,
    at: "2026-12-01T18:00:02Z",
    ...fields,
  };
  return encoder.encode(JSON.stringify(event));
}
