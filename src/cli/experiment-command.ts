/**
 * `turnout experiment …`: the ExperimentService from the command line, against a control plane's
 * admin port. `create FILE` (JSON, `-` for stdin), `start`, `pause`, `stop`, `conclude ID ARM`,
 * `split ID W1,W2,… [--rerandomize]` change experiments and print the result in a line; `get ID`
 * prints the experiment as JSON; `report ID` prints the live report as a table (`--watch`: again
 * whenever it changes); `list` prints the experiments.
 */
import { readFile } from "node:fs/promises";
import { text as readAll } from "node:stream/consumers";
import { parseArgs } from "node:util";
import { fromJson, toJsonString, type JsonValue } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { ADMIN_CLIENT_FLAGS, adminClient, adminError, adminToken, adminUrl } from "./admin-client.ts";
import {
  ExperimentSchema,
  ExperimentService,
  ExperimentServiceCreateRequestSchema,
  type Experiment,
} from "../../gen/turnout/v1/experiment_pb.js";
import { SECONDS_FLAG, parseDuration } from "../duration.ts";
import { ErrorCode, TurnoutError } from "../errors.ts";
import { formatExperiment, formatReport } from "./experiment-report-format.ts";

export const EXPERIMENT_USAGE = `turnout experiment create FILE|- | start ID | pause ID | stop ID | conclude ID ARM
                   | split ID W1,W2,… [--rerandomize] | get ID | list [--route R]
                   | report ID [--watch] [--interval 5]
  A/B experiments. create takes the Create request as JSON (the seed's body: name, arms
  [{name, weight}], duration "24h", metrics, targeting, layer); split opens a new phase with new
  weights (users stay where their buckets stay) or, with --rerandomize, a new seed (weights
  optional). report prints the live report (per arm users, requests, success and error rates,
  TTFT and latency percentiles, tokens/s, feedback; lift against control with CI and p-value, the
  always-valid interval, the sample-ratio check and a verdict); --watch prints it again whenever
  it changes. --admin URL (or TURNOUT_ADMIN, default http://127.0.0.1:8081) is the control
  plane's admin address; --token TOKEN (or TURNOUT_TOKEN) the key to call it with.
`;

/** One line for a changed experiment: id, status, phase and split, revision and snapshot. */
function changed(e: Experiment | undefined, revision: bigint, snapshotVersion?: bigint): string {
  if (e === undefined) return `revision ${revision}`;
  const phase = e.phases.length === 0 ? "" : `  phase ${e.phases.length - 1} (seed ${e.phases.at(-1)!.seed})`;
  return `${formatExperiment(e)}${phase}  revision ${revision}${snapshotVersion === undefined ? "" : `  snapshot ${snapshotVersion}`}`;
}

/** The weights of `split ID W1,W2,…`: numbers, each named by position when it is not one. */
function parseWeights(text: string | undefined): number[] {
  if (text === undefined || text === "") return [];
  return text.split(",").map((part, i) => {
    const w = Number(part);
    if (part.trim() === "" || !Number.isFinite(w))
      throw new TurnoutError(
        ErrorCode.InvalidArgument,
        `weights[${i}]: ${JSON.stringify(part)} is not a number (give W1,W2,… such as 80,20)`,
      );
    return w;
  });
}

/** The positional argument `name` at `i`, or an error naming it. */
function required(positionals: string[], i: number, sub: string, name: string): string {
  const v = positionals[i];
  if (v === undefined || v === "")
    throw new TurnoutError(ErrorCode.InvalidArgument, `turnout experiment ${sub}: ${name} is required`);
  return v;
}

async function readRequest(path: string): Promise<JsonValue> {
  const text = path === "-" ? await readAll(process.stdin) : await readFile(path, "utf8");
  try {
    return JSON.parse(text) as JsonValue;
  } catch (err) {
    throw new TurnoutError(ErrorCode.InvalidArgument, `${path === "-" ? "stdin" : path}: not JSON (${(err as Error).message})`);
  }
}

type Out = (line: string) => void;

/** `--interval` of `report --watch` in whole seconds ({@link SECONDS_FLAG}: "5", "30s", "1m"). */
function intervalSeconds(value: string): number {
  const r = parseDuration(value, SECONDS_FLAG);
  if (!r.ok) throw new TurnoutError(ErrorCode.InvalidArgument, `--interval: ${r.message}`);
  if (r.ms % 1000 !== 0)
    throw new TurnoutError(
      ErrorCode.InvalidArgument,
      `--interval: must be a whole number of seconds, got ${JSON.stringify(value)}`,
    );
  return r.ms / 1000;
}

/** Runs `turnout experiment ARGS`; answers the exit status. `out` receives each printed line. */
export async function runExperimentCommand(
  argv: string[],
  out: Out = (l) => process.stdout.write(`${l}\n`),
  signal?: AbortSignal,
): Promise<number> {
  const [sub, ...rest] = argv;
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    strict: true,
    options: {
      ...ADMIN_CLIENT_FLAGS,
      watch: { type: "boolean" },
      interval: { type: "string" },
      route: { type: "string" },
      rerandomize: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (sub === undefined || values.help || sub === "help") {
    out(EXPERIMENT_USAGE.trimEnd());
    return sub === undefined ? 2 : 0;
  }
  const baseUrl = adminUrl(values.admin);
  const client = adminClient(ExperimentService, baseUrl, adminToken(values.token));
  try {
    switch (sub) {
      case "create": {
        const json = await readRequest(required(positionals, 0, sub, "a JSON file (or - for stdin)"));
        let req;
        try {
          req = fromJson(ExperimentServiceCreateRequestSchema, json);
        } catch (err) {
          throw new TurnoutError(ErrorCode.InvalidArgument, `not an ExperimentService Create request: ${(err as Error).message}`);
        }
        const r = await client.create(req);
        out(changed(r.experiment, r.revision));
        return 0;
      }
      case "start":
      case "pause":
      case "stop": {
        const id = required(positionals, 0, sub, "an experiment id");
        const r = await client[sub]({ id });
        out(changed(r.experiment, r.revision, r.snapshotVersion));
        return 0;
      }
      case "conclude": {
        const r = await client.conclude({
          id: required(positionals, 0, sub, "an experiment id"),
          arm: required(positionals, 1, sub, "the winning arm"),
        });
        out(changed(r.experiment, r.revision, r.snapshotVersion));
        return 0;
      }
      case "split": {
        const id = required(positionals, 0, sub, "an experiment id");
        const weights = parseWeights(positionals[1]);
        if (weights.length === 0 && !values.rerandomize)
          throw new TurnoutError(
            ErrorCode.InvalidArgument,
            "turnout experiment split: weights W1,W2,… are required (or --rerandomize)",
          );
        const r = await client.changeSplit({ id, weights, rerandomize: values.rerandomize ?? false });
        out(changed(r.experiment, r.revision, r.snapshotVersion));
        return 0;
      }
      case "get": {
        const r = await client.get({ id: required(positionals, 0, sub, "an experiment id") });
        out(toJsonString(ExperimentSchema, r.experiment!, { prettySpaces: 2 }));
        return 0;
      }
      case "report": {
        const id = positionals[0];
        if (id === undefined)
          throw new TurnoutError(ErrorCode.InvalidArgument, "turnout experiment report: an experiment id is required");
        if (!values.watch) {
          for (const line of formatReport((await client.getReport({ id })).report!)) out(line);
          return 0;
        }
        const interval = values.interval === undefined ? 0 : intervalSeconds(values.interval);
        let first = true;
        for await (const { report } of client.watchReport({ id, intervalSeconds: interval }, { signal })) {
          if (!first) out("");
          first = false;
          for (const line of formatReport(report!)) out(line);
        }
        return 0;
      }
      case "list":
        for (const e of (await client.list({ route: values.route ?? "" })).experiments) out(formatExperiment(e));
        return 0;
      default:
        throw new TurnoutError(
          ErrorCode.InvalidArgument,
          `turnout experiment: unknown subcommand "${sub}" (create, start, pause, stop, conclude, split, get, list, report)`,
        );
    }
  } catch (err) {
    if (signal?.aborted && err instanceof ConnectError && err.code === Code.Canceled) return 0;
    throw adminError(err);
  }
}
