/**
 * `turnout key …`: the KeyService from the command line, against a control plane's admin port.
 * `create NAME --role R` makes a key and prints its token (first line, shown only this once)
 * and the key; `list` prints every key; `revoke ID` revokes one; `audit` prints the newest
 * entries of the admin audit log.
 */
import { parseArgs } from "node:util";
import { timestampDate, timestampFromMs, type Timestamp } from "@bufbuild/protobuf/wkt";
import { KeyService, type AuditEntry, type KeyInfo } from "../../gen/turnout/v1/keys_pb.js";
import { roleName, roleNamed } from "../auth/roles.ts";
import { KEY_LIFETIME, parseDuration } from "../duration.ts";
import { ErrorCode, TurnoutError } from "../errors.ts";
import { ADMIN_CLIENT_FLAGS, adminClient, adminError, adminToken, adminUrl } from "./admin-client.ts";

export const KEY_USAGE = `turnout key create NAME --role viewer|operator|admin|client [--expires 90d|2031-01-01T00:00:00Z]
                 [--routes R1,R2] [--rpm N] [--tpm N] [--max-concurrent N] [--max-tokens N]
turnout key list | revoke ID | audit [--limit 100] [--key ID]
  API keys. create prints the new key's token on its first line — the only time it is shown —
  then the key. --routes, --rpm (requests/minute), --tpm (tokens/minute), --max-concurrent and
  --max-tokens (per request) scope and limit a client key. revoke refuses the key at once on
  every control plane and on every proxy with the next snapshot. audit prints the admin audit
  log (every write, with the key that made it). --admin URL (or TURNOUT_ADMIN, default
  http://127.0.0.1:8081) is the control plane's admin address; --token TOKEN (or TURNOUT_TOKEN)
  an admin key (or the admin token) to call it with.
`;

type Out = (line: string) => void;

const iso = (t: Timestamp | undefined) => (t === undefined ? "-" : timestampDate(t).toISOString());

/** A non-negative whole number flag, or undefined when not given. */
function count(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n > 0xffff_ffff)
    throw new TurnoutError(ErrorCode.InvalidArgument, `${flag}: "${value}" is not a whole number from 0 to 4294967295`);
  return n;
}

/** `--expires`: a duration from now ("90d") or an RFC 3339 time; undefined when not given. */
function expiry(value: string | undefined, nowMs: number): Timestamp | undefined {
  if (value === undefined) return undefined;
  if (/^\d{4}-\d{2}-\d{2}/.test(value.trim())) {
    const ms = Date.parse(value);
    if (Number.isNaN(ms)) throw new TurnoutError(ErrorCode.InvalidArgument, `--expires: "${value}" is not a time`);
    return timestampFromMs(ms);
  }
  const r = parseDuration(value, KEY_LIFETIME);
  if (!r.ok) throw new TurnoutError(ErrorCode.InvalidArgument, `--expires: ${r.message}`);
  return timestampFromMs(nowMs + r.ms);
}

/** One line for a key: id, role, name, then what is set of expiry, revocation, scope and limits. */
function formatKey(k: KeyInfo): string {
  const parts = [k.id, roleName(k.role).padEnd(8), JSON.stringify(k.name), `created ${iso(k.createdAt)} by ${k.createdBy}`];
  parts.push(k.expiresAt === undefined ? "expires never" : `expires ${iso(k.expiresAt)}`);
  if (k.revokedAt !== undefined) parts.push(`REVOKED ${iso(k.revokedAt)} by ${k.revokedBy}`);
  if (k.routes.length > 0) parts.push(`routes ${k.routes.join(",")}`);
  const l = k.limits;
  if (l !== undefined) {
    const set = [
      ["rpm", l.requestsPerMinute],
      ["tpm", l.tokensPerMinute],
      ["max-concurrent", l.maxConcurrent],
      ["max-tokens", l.maxTokensPerRequest],
    ].filter(([, v]) => Number(v) > 0);
    if (set.length > 0) parts.push(`limits ${set.map(([n, v]) => `${n}=${v}`).join(" ")}`);
  }
  return parts.join("  ");
}

/** One line for an audit entry. */
function formatAudit(e: AuditEntry): string {
  const outcome = e.code === "ok" ? "ok" : `${e.code}: ${e.error}`;
  return `${String(e.seq).padStart(6)}  ${iso(e.at)}  ${e.keyId.padEnd(16)}  ${roleName(e.role).padEnd(8)}  ${e.method}  ${e.request}  → ${outcome}`;
}

/** Runs `turnout key ARGS`; answers the exit status. `out` receives each printed line. */
export async function runKeyCommand(argv: string[], out: Out = (l) => process.stdout.write(`${l}\n`)): Promise<number> {
  const [sub, ...rest] = argv;
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    strict: true,
    options: {
      ...ADMIN_CLIENT_FLAGS,
      role: { type: "string" },
      expires: { type: "string" },
      routes: { type: "string" },
      rpm: { type: "string" },
      tpm: { type: "string" },
      "max-concurrent": { type: "string" },
      "max-tokens": { type: "string" },
      limit: { type: "string" },
      key: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (sub === undefined || values.help || sub === "help") {
    out(KEY_USAGE.trimEnd());
    return sub === undefined ? 2 : 0;
  }
  const client = adminClient(KeyService, adminUrl(values.admin), adminToken(values.token));
  try {
    switch (sub) {
      case "create": {
        const name = positionals[0];
        if (name === undefined) throw new TurnoutError(ErrorCode.InvalidArgument, "turnout key create: a NAME is required");
        if (values.role === undefined)
          throw new TurnoutError(ErrorCode.InvalidArgument, "--role: viewer, operator, admin or client is required");
        const role = roleNamed(values.role);
        if (role === undefined)
          throw new TurnoutError(ErrorCode.InvalidArgument, `--role: "${values.role}" is not viewer, operator, admin or client`);
        const limits = {
          requestsPerMinute: count(values.rpm, "--rpm"),
          tokensPerMinute: count(values.tpm, "--tpm"),
          maxConcurrent: count(values["max-concurrent"], "--max-concurrent"),
          maxTokensPerRequest: count(values["max-tokens"], "--max-tokens"),
        };
        const made = await client.createKey({
          name,
          role,
          routes: values.routes === undefined ? [] : values.routes.split(",").map((r) => r.trim()),
          limits: Object.values(limits).some((v) => v !== undefined) ? limits : undefined,
          expiresAt: expiry(values.expires, Date.now()),
        });
        out(made.token);
        out(formatKey(made.key!));
        return 0;
      }
      case "list":
        for (const k of (await client.listKeys({})).keys) out(formatKey(k));
        return 0;
      case "revoke": {
        const id = positionals[0];
        if (id === undefined) throw new TurnoutError(ErrorCode.InvalidArgument, "turnout key revoke: a key ID is required");
        const r = await client.revokeKey({ id });
        out(`${formatKey(r.key!)}  snapshot ${r.snapshotVersion}`);
        return 0;
      }
      case "audit":
        for (const e of (await client.listAuditEntries({ limit: count(values.limit, "--limit") ?? 0, keyId: values.key ?? "" }))
          .entries)
          out(formatAudit(e));
        return 0;
      default:
        throw new TurnoutError(
          ErrorCode.InvalidArgument,
          `turnout key: unknown subcommand "${sub}" (create, list, revoke, audit)`,
        );
    }
  } catch (err) {
    throw adminError(err);
  }
}
