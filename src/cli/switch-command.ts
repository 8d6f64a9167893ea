/**
 * `turnout switch ROUTE VARIANT`: a make-before-break switch through a control plane's
 * `SwitchService.Switch`, one line per progress message; exit code 0 once the switch is done,
 * 1 when it failed, 2 for bad usage.
 */
import { parseArgs } from "node:util";
import { Code, ConnectError } from "@connectrpc/connect";
import { ADMIN_CLIENT_FLAGS, adminClient, adminToken, adminUrl } from "./admin-client.ts";
import { SwitchPhase, SwitchService, type SwitchResponse } from "../../gen/turnout/v1/switch_pb.js";
import { TIMEOUT_FLAG, parseDuration } from "../duration.ts";

export const SWITCH_USAGE = `turnout switch ROUTE VARIANT [--admin http://127.0.0.1:8081] [--token TOKEN] [--unload | --no-unload]
               [--fleet-timeout 30s] [--drain-timeout 10m] [--keep-alive 30m]
turnout switch --cancel ROUTE [--admin URL] [--token TOKEN]
  Switches ROUTE to VARIANT without dropping a request: loads the model on the variant's nodes,
  waits for every proxy, shifts traffic, drains the old variant and (with --unload, or when the
  old variant sets unload_when_idle and --no-unload is not given) unloads its model. Prints one
  line per step; exits non-zero when the switch fails. Ctrl-C stops watching, not the switch;
  --cancel aborts the route's switch (before its shift nothing moves).
  --admin defaults to TURNOUT_ADMIN or http://127.0.0.1:8081; --token to TURNOUT_TOKEN.
`;

const names: Record<number, string> = {
  [SwitchPhase.WARMING]: "warming",
  [SwitchPhase.RESIDENT]: "resident",
  [SwitchPhase.FLEET]: "fleet",
  [SwitchPhase.SHIFTED]: "shifted",
  [SwitchPhase.DRAINING]: "draining",
  [SwitchPhase.DRAINED]: "drained",
  [SwitchPhase.UNLOADED]: "unloaded",
  [SwitchPhase.FAILED]: "failed",
};

/** One progress line: elapsed seconds, the phase, the message. */
function progressLine(p: SwitchResponse): string {
  const seconds = (p.elapsedMs / 1000).toFixed(1).padStart(6);
  return `[${seconds}s] ${(names[p.phase] ?? "?").padEnd(8)} ${p.message}`;
}

/** A timeout flag in ms ({@link TIMEOUT_FLAG}: "30s", "10m", or a number of ms), or undefined
 * when not given. */
function durationFlag(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const r = parseDuration(value, TIMEOUT_FLAG);
  if (!r.ok) throw new UsageError(`${flag}: ${r.message}`);
  return r.ms;
}

class UsageError extends Error {}

/** `turnout switch --cancel ROUTE`; answers the exit code. */
async function cancel(
  admin: string,
  token: string | undefined,
  route: string,
  out: NodeJS.WritableStream,
  err: NodeJS.WritableStream,
): Promise<number> {
  const client = adminClient(SwitchService, admin, token);
  try {
    const res = await client.cancelSwitch({ route });
    out.write(`cancelled the switch of ${route} to ${res.variants.join(", ")}\n`);
    return 0;
  } catch (e) {
    const ce = ConnectError.from(e);
    err.write(`turnout switch: ${ce.rawMessage} (${Code[ce.code]})\n`);
    return 1;
  }
}

/** Runs `turnout switch`; answers the exit code. */
export async function runSwitchCommand(
  argv: string[],
  out: NodeJS.WritableStream = process.stdout,
  err: NodeJS.WritableStream = process.stderr,
): Promise<number> {
  let request;
  let admin: string;
  let token: string | undefined;
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        ...ADMIN_CLIENT_FLAGS,
        unload: { type: "boolean" },
        "no-unload": { type: "boolean" },
        "fleet-timeout": { type: "string" },
        "drain-timeout": { type: "string" },
        "keep-alive": { type: "string" },
        cancel: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
    });
    if (values.help) {
      out.write(SWITCH_USAGE);
      return 0;
    }
    admin = adminUrl(values.admin);
    token = adminToken(values.token);
    if (values.cancel) {
      if (positionals.length !== 1) throw new UsageError(`--cancel expects ROUTE, got ${positionals.length} argument(s)`);
      return await cancel(admin, token, positionals[0]!, out, err);
    }
    if (positionals.length !== 2) throw new UsageError(`expected ROUTE and VARIANT, got ${positionals.length} argument(s)`);
    if (values.unload && values["no-unload"]) throw new UsageError("--unload and --no-unload contradict each other");
    request = {
      route: positionals[0]!,
      variant: positionals[1]!,
      unload: values.unload ? true : values["no-unload"] ? false : undefined,
      fleetTimeoutMs: durationFlag(values["fleet-timeout"], "--fleet-timeout"),
      drainTimeoutMs: durationFlag(values["drain-timeout"], "--drain-timeout"),
      keepAlive: values["keep-alive"],
    };
  } catch (e) {
    err.write(`turnout switch: ${e instanceof Error ? e.message : String(e)}\n\n${SWITCH_USAGE}`);
    return 2;
  }
  const client = adminClient(SwitchService, admin, token);
  let failed = false;
  try {
    for await (const progress of client.switch(request)) {
      out.write(`${progressLine(progress)}\n`);
      if (progress.phase === SwitchPhase.FAILED) failed = true;
    }
  } catch (e) {
    const ce = ConnectError.from(e);
    // The FAILED line already said why; otherwise (no answer at all) say it here.
    if (!failed)
      err.write(
        `turnout switch: ${ce.code === Code.Unavailable ? `cannot reach the control plane at ${admin}: ` : ""}${ce.rawMessage} (${Code[ce.code]})\n`,
      );
    return 1;
  }
  return failed ? 1 : 0;
}
