/**
 * `turnout experiment …`: the ExperimentService from the command line, against a control plane's
 * admin port. `report ID` prints the live report as a table (`--watch`: again whenever it
 * changes); `list` prints the experiments.
 */
import { parseArgs } from "node:util";
import { Code, ConnectError } from "@connectrpc/connect";
import { adminClient, adminUrl } from "./admin-client.ts";
import { ExperimentService } from "../../gen/turnout/v1/experiment_pb.js";
import { TurnoutError } from "../errors.ts";
import { formatExperiment, formatReport } from "./experiment-report-format.ts";

export const EXPERIMENT_USAGE = `turnout experiment report ID [--watch] [--interval 5] | list [--route R]
  The live report of an A/B experiment (per arm users, requests, success and error rates, TTFT
  and latency percentiles, tokens/s, feedback; lift against control with CI and p-value, the
  always-valid interval, the sample-ratio check and a verdict); --watch prints it again whenever
  it changes. --admin URL (or TURNOUT_ADMIN, default http://127.0.0.1:8081) is the control
  plane's admin address.
`;

type Out = (line: string) => void;

/** Runs `turnout experiment ARGS`; answers the exit status. `out` receives each printed line. */
export async function runExperimentCommand(argv: string[], out: Out = (l) => process.stdout.write(`${l}\n`), signal?: AbortSignal): Promise<number> {
  const [sub, ...rest] = argv;
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    strict: true,
    options: {
      admin: { type: "string" },
      watch: { type: "boolean" },
      interval: { type: "string" },
      route: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (sub === undefined || values.help || sub === "help") {
    out(EXPERIMENT_USAGE.trimEnd());
    return sub === undefined ? 2 : 0;
  }
  const baseUrl = adminUrl(values.admin);
  const client = adminClient(ExperimentService, baseUrl);
  try {
    switch (sub) {
      case "report": {
        const id = positionals[0];
        if (id === undefined) throw new TurnoutError("invalid_argument", "turnout experiment report: an experiment id is required");
        if (!values.watch) {
          for (const line of formatReport((await client.getReport({ id })).report!)) out(line);
          return 0;
        }
        const interval = values.interval === undefined ? 0 : Number(values.interval);
        if (!Number.isInteger(interval) || interval < 0) throw new TurnoutError("invalid_argument", `--interval: "${values.interval}" is not a whole number of seconds`);
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
        throw new TurnoutError("invalid_argument", `turnout experiment: unknown subcommand "${sub}" (report, list)`);
    }
  } catch (err) {
    if (err instanceof ConnectError) {
      if (signal?.aborted && err.code === Code.Canceled) return 0;
      const hint = err.code === Code.Unavailable ? " (is the control plane running? --admin URL)" : "";
      throw new Error(`${Code[err.code]}: ${err.rawMessage}${hint}`);
    }
    throw err;
  }
}
