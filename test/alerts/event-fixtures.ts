/**
 * Bus payloads of exactly the shapes the producers publish, built from the generated schemas and
 * written with the producers' JSON options: ProxyStatus (status reporter), NodeHealthChanged
 * (node-health reporter: every field, `healthy: false` included), RolloutEvent (rollout engine:
 * proto3 JSON, defaults left out). test/alerts/alerts-producers.test.ts checks the same decoding
 * against the real producers.
 */
import { create, toJsonString } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { ApplyState, NodeHealthChangedSchema, ProxyStatusSchema } from "../../gen/turnout/v1/events_pb.js";
import { GateVerdict, RolloutEventSchema } from "../../gen/turnout/v1/rollout_pb.js";

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
  return encoder.encode(
    toJsonString(
      ProxyStatusSchema,
      create(ProxyStatusSchema, { id, version: BigInt(version), appliedVersion: BigInt(version), state: ApplyState.ACK }),
    ),
  );
}

/** NodeHealthChanged's fields (the JSON names). */
export interface NodeHealthChangedJson {
  proxy: string;
  node: string;
  baseUrl: string;
  healthy: boolean;
  reason: string;
  /** RFC 3339. */
  at: string;
}

/** A NodeHealthChanged as the proxy's node-health reporter publishes it (every field written). */
export function nodeHealthChanged(
  fields: Partial<NodeHealthChangedJson> & Pick<NodeHealthChangedJson, "node" | "healthy">,
): Uint8Array {
  const f: NodeHealthChangedJson = {
    proxy: "proxy-a",
    baseUrl: "http://10.0.0.2:11434",
    reason: "",
    at: "2026-12-01T18:00:01Z",
    ...fields,
  };
  const message = create(NodeHealthChangedSchema, { ...f, at: timestampFromMs(Date.parse(f.at)) });
  return encoder.encode(toJsonString(NodeHealthChangedSchema, message, { alwaysEmitImplicit: true }));
}

/** RolloutEvent's fields used here (the JSON names). */
export interface RolloutEventJson {
  rolloutId: string;
  route: string;
  fromVariant: string;
  toVariant: string;
  kind: string;
  reason: string;
  step: number;
  /** The step's canary percent: the event's own, except after "rolled_back" (0, as the engine writes it). */
  canaryPercent: number;
  /** RFC 3339. */
  at: string;
}

/**
 * A RolloutEvent as the rollout engine publishes it (proto3 JSON, defaults left out): a
 * "gate_failed" or "rolled_back" carries the step's evaluation (GateReport with its step and
 * canary percent), and a "rolled_back" has canary percent 0 (the percent after the decision).
 */
export function rolloutEvent(fields: Partial<RolloutEventJson> & Pick<RolloutEventJson, "kind">): Uint8Array {
  const f: RolloutEventJson = {
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
  const judged = f.kind === "gate_failed" || f.kind === "rolled_back";
  const event = create(RolloutEventSchema, {
    ...f,
    canaryPercent: f.kind === "rolled_back" ? 0 : f.canaryPercent,
    at: timestampFromMs(Date.parse(f.at)),
    evaluation: judged
      ? { step: f.step, canaryPercent: f.canaryPercent, verdict: GateVerdict.FAIL, at: timestampFromMs(Date.parse(f.at)) }
      : undefined,
  });
  return encoder.encode(toJsonString(RolloutEventSchema, event));
}
