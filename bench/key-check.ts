/**
 * `npm run bench:keys`: what the client-key stage costs per request, in process and without the
 * noise of sockets: the proxy's own calls for one request of a key with every limit set —
 * authenticate (token parse, lookup, the remembered verified token or the SHA-256, role, expiry),
 * admit (requests, tokens and concurrency windows), the x-ratelimit-* headers of the answer, and
 * the end of the request (tokens counted) — against the same loop for an anonymous request. Also
 * the first request of a token (the SHA-256 and a constant-time compare), by building a new key
 * table each time. CPU time per operation, median of rounds.
 *
 * `node bench/key-check.ts [--requests 1000000] [--rounds 7]`
 */
import { create } from "@bufbuild/protobuf";
import { parseArgs } from "node:util";
import { KeySnapshotSchema, Role } from "../gen/turnout/v1/routing_pb.js";
import { newApiToken } from "../src/auth/api-token.ts";
import {
  type ClientAuth,
  admitKeyRequest,
  authenticate,
  isAdmitted,
  isKeyProblem,
  keyAnswerHeaders,
} from "../src/proxy/auth/client-auth.ts";
import { compileKeys } from "../src/proxy/auth/compiled-key.ts";
import { KeyLimiter } from "../src/proxy/auth/key-limiter.ts";
import type { RoutingTable } from "../src/proxy/snapshot/routing-table.ts";

const { values } = parseArgs({
  options: { requests: { type: "string", default: "1000000" }, rounds: { type: "string", default: "7" } },
});
const REQUESTS = Number(values.requests);
const ROUNDS = Number(values.rounds);

const made = newApiToken();
const key = create(KeySnapshotSchema, {
  id: made.id,
  role: Role.CLIENT,
  secretSha256: made.secretSha256,
  // Limits high enough that nothing is refused: the cost measured is the accounting.
  limits: {
    requestsPerMinute: 4_000_000_000,
    tokensPerMinute: 4_000_000_000,
    maxConcurrent: 1_000_000,
    maxTokensPerRequest: 4096,
  },
});
const auth: ClientAuth = { required: true, limiter: new KeyLimiter() };
const table = { keys: compileKeys([key]) } as unknown as RoutingTable;
const withKey = { authorization: `Bearer ${made.token}` };
const anonymous = {};
let sink = 0;

/** One request of the key through the client-key stage. */
function keyed(): void {
  const who = authenticate(auth, table, withKey);
  if (who === undefined || isKeyProblem(who)) throw new Error(`the key was refused: ${who}`);
  const use = admitKeyRequest(auth, who);
  if (!isAdmitted(use)) throw new Error("the key was limited");
  const headers = keyAnswerHeaders(auth, who);
  sink += headers === undefined ? 0 : 1;
  use.finish(12);
}

/** One anonymous request through the same stage (keys not required). */
const open: ClientAuth = { required: false, limiter: auth.limiter };
function plain(): void {
  const who = authenticate(open, table, anonymous);
  sink += who === undefined ? 0 : 1;
  sink += keyAnswerHeaders(open, undefined) === undefined ? 0 : 1;
}

/** A token's first request on a snapshot: a fresh key table, so the SHA-256 runs. */
function firstOfToken(): void {
  const fresh = { keys: compileKeys([key]) } as unknown as RoutingTable;
  const who = authenticate(auth, fresh, withKey);
  sink += who === undefined || isKeyProblem(who) ? 0 : 1;
}

/** CPU µs per call of `fn` over `n` calls, median of ROUNDS rounds (after one warm-up round). */
function measure(fn: () => void, n: number): number {
  const rounds: number[] = [];
  for (let r = 0; r <= ROUNDS; r++) {
    const start = process.cpuUsage();
    for (let i = 0; i < n; i++) fn();
    const used = process.cpuUsage(start);
    if (r > 0) rounds.push((used.user + used.system) / n);
  }
  rounds.sort((a, b) => a - b);
  return rounds[Math.floor(rounds.length / 2)];
}

const anonymousUs = measure(plain, REQUESTS);
const keyedUs = measure(keyed, REQUESTS);
const firstUs = measure(firstOfToken, Math.max(1, Math.floor(REQUESTS / 20)));
const us = (x: number) => `${x.toFixed(3)} µs`;
const rows: [string, string][] = [
  ["anonymous request", us(anonymousUs)],
  [
    "key with every limit (check, admit, headers, end)",
    `${us(keyedUs)}  (+${us(keyedUs - anonymousUs)} over anonymous; target ≤ 5 µs)`,
  ],
  ["a token's first request on a snapshot (SHA-256)", us(firstUs)],
];
const width = Math.max(...rows.map(([label]) => label.length));
process.stdout.write(
  `Client-key stage, in process (Node ${process.version}; ${REQUESTS} requests × ${ROUNDS} rounds, CPU time, median):\n${rows
    .map(([label, value]) => `  ${label.padEnd(width)}  ${value}\n`)
    .join("")}`,
);
if (sink < 0) process.stdout.write("unreachable\n");
