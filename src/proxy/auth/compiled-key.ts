/**
 * The snapshot's API keys as the traffic port checks them: by id, with the SHA-256 of the secret
 * as bytes (for a constant-time compare), the route scope as a set, the expiry as epoch ms and the
 * limits with 0 for "none"; and the tokens already verified against them. Built once per snapshot
 * by the routing table; read on every request that carries a token.
 */
import { timestampMs } from "@bufbuild/protobuf/wkt";
import type { KeySnapshot, Role } from "../../../gen/turnout/v1/routing_pb.js";
import { SHA256_HEX } from "../../auth/api-token.ts";

/** A key's limits; 0 means no limit for each. */
export interface CompiledLimits {
  readonly requestsPerMinute: number;
  readonly tokensPerMinute: number;
  readonly maxConcurrent: number;
  readonly maxTokensPerRequest: number;
}

/** One key of a snapshot. */
export interface CompiledKey {
  readonly id: string;
  readonly role: Role;
  /** Route names the key may use; null for every route. */
  readonly routes: ReadonlySet<string> | null;
  /** SHA-256 of the secret (32 bytes); empty when the snapshot's hash is malformed (the key never matches). */
  readonly digest: Buffer;
  /** When the key stops being accepted, epoch ms; Infinity for never. */
  readonly expiresAtMs: number;
  readonly limits: CompiledLimits;
  /** Whether a requests, tokens or concurrency limit is set (the key's use is counted). */
  readonly counted: boolean;
}

const NO_LIMITS: CompiledLimits = { requestsPerMinute: 0, tokensPerMinute: 0, maxConcurrent: 0, maxTokensPerRequest: 0 };
const EMPTY = Buffer.alloc(0);

/** The keys of one snapshot. */
export interface KeyTable {
  /** Keys by id. */
  readonly byId: ReadonlyMap<string, CompiledKey>;
  /**
   * Whole tokens whose secret matched, with their key: a request with one of them skips the hash.
   * Only a key's own token gets in, so it holds at most one entry per key; it lives as long as the
   * snapshot, so a revoked key's token leaves with it.
   */
  readonly verified: Map<string, CompiledKey>;
}

/** The keys of a snapshot. */
export function compileKeys(keys: readonly KeySnapshot[]): KeyTable {
  const out = new Map<string, CompiledKey>();
  for (const k of keys) {
    const l = k.limits;
    const limits: CompiledLimits =
      l === undefined
        ? NO_LIMITS
        : {
            requestsPerMinute: l.requestsPerMinute,
            tokensPerMinute: l.tokensPerMinute,
            maxConcurrent: l.maxConcurrent,
            maxTokensPerRequest: l.maxTokensPerRequest,
          };
    out.set(k.id, {
      id: k.id,
      role: k.role,
      routes: k.routes.length === 0 ? null : new Set(k.routes),
      digest: SHA256_HEX.test(k.secretSha256) ? Buffer.from(k.secretSha256, "hex") : EMPTY,
      expiresAtMs: k.expiresAt === undefined ? Number.POSITIVE_INFINITY : timestampMs(k.expiresAt),
      limits,
      counted: limits.requestsPerMinute > 0 || limits.tokensPerMinute > 0 || limits.maxConcurrent > 0,
    });
  }
  return { byId: out, verified: new Map() };
}
