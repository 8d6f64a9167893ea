/**
 * `turnout rollout …`: the RolloutService from the command line, against a control plane's admin
 * port. `start` begins a rollout and follows it; `watch` follows one; `pause`, `resume`, `abort`,
 * `promote` act on one; `list` and `audit` read.
 */
import { parseArgs } from "node:util";
import { create } from "@bufbuild/protobuf";
import type { Client } from "@connectrpc/connect";
import { ADMIN_CLIENT_FLAGS, adminClient, adminError, adminToken, adminUrl } from "./admin-client.ts";
import { RolloutGatesSchema, RolloutService, RolloutState, type Rollout } from "../../gen/turnout/v1/rollout_pb.js";
import { INTERVAL_FLAG, MS_FLAG, parseDuration } from "../duration.ts";
import { ErrorCode, TurnoutError } from "../errors.ts";
import { formatEvaluation, formatEvent, formatProgress, formatRollout } from "./rollout-format.ts";

export const ROLLOUT_USAGE = `turnout rollout start ROUTE --to B [--from A] [--steps 1,5,10,25,50,100] [--interval 60s]
                      [--max-error-rate 0.05] [--max-p99-ttft-ms N] [--min-tokens-per-second N]
                      [--min-samples 30] [--failure-limit 1] [--no-relative] [--detach]
turnout rollout watch ID | pause ID | resume ID | abort ID [--reason TEXT] | promote ID
turnout rollout list [--route R] | audit [ID] [--route R]
  Progressive rollout of a route from its default variant to B, with guardrails and automatic
  rollback; start follows the rollout until it ends (--detach: print its id and return). Exit
  status of start/watch: 0 completed, 1 rolled back or aborted. --admin URL (or TURNOUT_ADMIN,
  default http://127.0.0.1:8081) is the control plane's admin address; --token TOKEN (or
  TURNOUT_TOKEN) the key to call it with.
`;

type Out = (line: string) => void;

function number(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n))
    throw new TurnoutError(ErrorCode.InvalidArgument, `${flag}: "${value}" is not a number`);
  return n;
}

/** A `--…-ms` flag ({@link MS_FLAG}: "800", "1.5s"), or undefined when not given. */
function milliseconds(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const r = parseDuration(value, MS_FLAG);
  if (!r.ok) throw new TurnoutError(ErrorCode.InvalidArgument, `${flag}: ${r.message}`);
  return r.ms;
}

/** Follows rollout `id` until it ends; answers its last state. */
async function follow(
  client: Client<typeof RolloutService>,
  id: string,
  out: Out,
  signal?: AbortSignal,
): Promise<Rollout | undefined> {
  let last: Rollout | undefined;
  let lastProgress = "";
  let lastEvaluation = "";
  for await (const update of client.watchRollout({ id }, { signal })) {
    const r = update.rollout!;
    last = r;
    const evaluatedAt = `${r.lastEvaluation?.at?.seconds}.${r.lastEvaluation?.at?.nanos}`;
    if (r.lastEvaluation !== undefined && evaluatedAt !== lastEvaluation)
      for (const line of formatEvaluation(r.lastEvaluation)) out(line);
    lastEvaluation = evaluatedAt;
    if (update.event !== undefined) for (const line of formatEvent(update.event, false)) out(line);
    const progress = formatProgress(r, update.convergence, Date.now());
    // one progress line per phase change (and per fleet count while converging)
    const key = `${r.state}:${r.step}:${r.phase}:${update.convergence?.synced}/${update.convergence?.live}`;
    if (progress !== undefined && key !== lastProgress) out(progress);
    lastProgress = key;
  }
  return last;
}

const exitOf = (r: Rollout | undefined) => (r?.state === RolloutState.COMPLETED ? 0 : 1);

/** Runs `turnout rollout ARGS`; answers the exit status. `out` receives each printed line. */
export async function runRolloutCommand(argv: string[], out: Out = (l) => process.stdout.write(`${l}\n`)): Promise<number> {
  const [sub, ...rest] = argv;
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    strict: true,
    options: {
      ...ADMIN_CLIENT_FLAGS,
      from: { type: "string" },
      to: { type: "string" },
      steps: { type: "string" },
      interval: { type: "string" },
      "max-error-rate": { type: "string" },
      "max-p99-ttft-ms": { type: "string" },
      "min-tokens-per-second": { type: "string" },
      "min-samples": { type: "string" },
      "failure-limit": { type: "string" },
      "no-relative": { type: "boolean" },
      detach: { type: "boolean" },
      reason: { type: "string" },
      route: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (sub === undefined || values.help || sub === "help") {
    out(ROLLOUT_USAGE.trimEnd());
    return sub === undefined ? 2 : 0;
  }
  const baseUrl = adminUrl(values.admin);
  const client = adminClient(RolloutService, baseUrl, adminToken(values.token));
  const id = () => {
    if (positionals[0] === undefined)
      throw new TurnoutError(ErrorCode.InvalidArgument, `turnout rollout ${sub}: a rollout id is required`);
    return positionals[0];
  };
  try {
    switch (sub) {
      case "start": {
        const route = positionals[0];
        if (route === undefined) throw new TurnoutError(ErrorCode.InvalidArgument, "turnout rollout start: a ROUTE is required");
        if (values.to === undefined) throw new TurnoutError(ErrorCode.InvalidArgument, "--to: the canary variant is required");
        const steps = values.steps === undefined ? [] : values.steps.split(",").map((s) => number(s, "--steps")!);
        let intervalMs = 0;
        if (values.interval !== undefined) {
          const r = parseDuration(values.interval, INTERVAL_FLAG);
          if (!r.ok) throw new TurnoutError(ErrorCode.InvalidArgument, `--interval: ${r.message}`);
          intervalMs = r.ms;
        }
        const gates = create(RolloutGatesSchema, {
          maxErrorRate: number(values["max-error-rate"], "--max-error-rate"),
          maxP99TtftMs: milliseconds(values["max-p99-ttft-ms"], "--max-p99-ttft-ms"),
          minTokensPerSecond: number(values["min-tokens-per-second"], "--min-tokens-per-second"),
          minSamples: number(values["min-samples"], "--min-samples") ?? 0,
          failureLimit: number(values["failure-limit"], "--failure-limit") ?? 0,
          disableRelative: values["no-relative"] ?? false,
        });
        const { rollout } = await client.startRollout({
          route,
          from: values.from ?? "",
          to: values.to,
          steps,
          intervalMs,
          gates,
        });
        out(formatRollout(rollout!));
        if (values.detach) return 0;
        return exitOf(await follow(client, rollout!.id, out));
      }
      case "watch":
        return exitOf(await follow(client, id(), out));
      case "pause":
        out(formatRollout((await client.pauseRollout({ id: id() })).rollout!));
        return 0;
      case "resume":
        out(formatRollout((await client.resumeRollout({ id: id() })).rollout!));
        return 0;
      case "abort":
        out(formatRollout((await client.abortRollout({ id: id(), reason: values.reason ?? "" })).rollout!));
        return 0;
      case "promote":
        out(formatRollout((await client.promoteRollout({ id: id() })).rollout!));
        return 0;
      case "list":
        for (const r of (await client.listRollouts({ route: values.route ?? "" })).rollouts) out(formatRollout(r));
        return 0;
      case "audit": {
        const entries =
          positionals[0] !== undefined
            ? (await client.getAuditLog({ rolloutId: positionals[0] })).entries
            : (await client.listAudit({ route: values.route ?? "" })).entries;
        for (const e of entries) for (const line of formatEvent(e)) out(line);
        return 0;
      }
      default:
        throw new TurnoutError(
          ErrorCode.InvalidArgument,
          `turnout rollout: unknown subcommand "${sub}" (start, watch, pause, resume, abort, promote, list, audit)`,
        );
    }
  } catch (err) {
    throw adminError(err);
  }
}
