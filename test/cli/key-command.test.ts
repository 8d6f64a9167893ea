/**
 * `turnout key …` against a real control plane's admin port that requires keys: create (the
 * token printed once), list, revoke and audit, with --token or TURNOUT_TOKEN; and the admin
 * CLI commands' --token.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { test } from "node:test";
import { promisify } from "node:util";
import { runKeyCommand } from "../../src/cli/key-command.ts";
import { runSwitchCommand } from "../../src/cli/switch-command.ts";
import { ADMIN_TOKEN, startAuthPlane, type AuthPlane } from "../control/auth-harness.ts";

const bin = new URL("../../bin/turnout.js", import.meta.url).pathname;

/** Runs `turnout key ARGS --admin URL`; answers its exit status and printed lines. */
async function key(plane: AuthPlane, ...args: string[]): Promise<{ status: number; lines: string[] }> {
  const lines: string[] = [];
  const status = await runKeyCommand([...args, "--admin", plane.url], (l) => lines.push(l));
  return { status, lines };
}

test("turnout key create, list and revoke with --token; the token is printed once, first", async (t) => {
  const plane = await startAuthPlane(t, { adminToken: ADMIN_TOKEN });
  const made = await key(plane, "create", "ci deployer", "--role", "operator", "--expires", "90d", "--token", ADMIN_TOKEN);
  assert.equal(made.status, 0);
  const [token, line] = made.lines;
  assert.match(token, /^tk_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
  const id = token.slice(3, 19);
  assert.match(line, new RegExp(`^${id}  operator  "ci deployer"  created \\S+ by bootstrap  expires \\d{4}-`));

  const client = await key(
    plane,
    "create",
    "team-search",
    "--role",
    "client",
    "--routes",
    "chat,search",
    "--rpm",
    "600",
    "--max-tokens",
    "2048",
    "--token",
    token, // an operator may not create keys
  ).catch((e: Error) => e);
  assert.ok(client instanceof Error);
  assert.match(
    client.message,
    /^PermissionDenied: key [0-9a-f]{16} \(operator\) may not call turnout\.v1\.KeyService\/CreateKey/,
  );

  const adminKey = (await key(plane, "create", "root", "--role", "admin", "--token", ADMIN_TOKEN)).lines[0];
  const scoped = await key(
    plane,
    "create",
    "team-search",
    "--role",
    "client",
    "--routes",
    "chat,search",
    "--rpm",
    "600",
    "--max-tokens",
    "2048",
    "--token",
    adminKey,
  );
  assert.match(scoped.lines[1], /client +"team-search" .* routes chat,search {2}limits rpm=600 max-tokens=2048$/);

  const listed = await key(plane, "list", "--token", adminKey);
  assert.equal(listed.lines.length, 3);
  assert.ok(!listed.lines.join("\n").includes(token.slice(20)), "list never prints a secret");

  const revoked = await key(plane, "revoke", id, "--token", adminKey);
  assert.match(revoked.lines[0], new RegExp(`^${id}  operator .* REVOKED \\S+ by [0-9a-f]{16}  snapshot \\d+$`));
  // the revoked key is refused on its next call
  const errors: string[] = [];
  const sink = (into: string[]) =>
    ({
      write(s: string) {
        into.push(s);
        return true;
      },
    }) as unknown as NodeJS.WritableStream;
  const out = sink([]);
  const err = sink(errors);
  assert.equal(await runSwitchCommand(["chat", "small", "--admin", plane.url, "--token", token], out, err), 1);
  assert.match(errors.join(""), new RegExp(`key ${id} was revoked \\(Unauthenticated\\)`));
});

test("turnout key without a token on a port that needs one says how to pass it", async (t) => {
  const plane = await startAuthPlane(t, { adminToken: ADMIN_TOKEN });
  await assert.rejects(
    key(plane, "list"),
    /^Error: Unauthenticated: this admin API needs a key.* \(--token TOKEN or TURNOUT_TOKEN\)$/,
  );
  await assert.rejects(
    key(plane, "create", "x", "--role", "root", "--token", ADMIN_TOKEN),
    /--role: "root" is not viewer, operator, admin or client/,
  );
  await assert.rejects(
    key(plane, "create", "x", "--role", "client", "--rpm=-5", "--token", ADMIN_TOKEN),
    /--rpm: "-5" is not a whole number/,
  );
  await assert.rejects(key(plane, "create", "x", "--role", "viewer", "--expires", "90", "--token", ADMIN_TOKEN), /--expires: /);
});

test("turnout key list and audit read TURNOUT_TOKEN from the environment (the real binary)", async (t) => {
  const plane = await startAuthPlane(t, { adminToken: ADMIN_TOKEN });
  const operator = (await key(plane, "create", "ops", "--role", "operator", "--token", ADMIN_TOKEN)).lines[0];
  const sink = { write: () => true } as unknown as NodeJS.WritableStream;
  const switched = await runSwitchCommand(["chat", "small", "--admin", plane.url, "--token", operator], sink, sink);
  assert.equal(switched, 0);
  const run = promisify(execFile);
  const env = { ...process.env, TURNOUT_ADMIN: plane.url, TURNOUT_TOKEN: ADMIN_TOKEN, NODE_TEST_CONTEXT: "" };
  const { stdout } = await run(process.execPath, [bin, "key", "audit"], { env });
  const lines = stdout.trimEnd().split("\n");
  assert.equal(lines.length, 2, stdout);
  assert.match(
    lines[0],
    /^ {5}1 {2}\S+ {2}bootstrap +admin +turnout\.v1\.KeyService\/CreateKey {2}\{"name":"ops","role":"ROLE_OPERATOR"\} {2}→ ok$/,
  );
  assert.match(
    lines[1],
    new RegExp(
      `^ {5}2  \\S+  ${operator.slice(3, 19)}  operator +turnout\\.v1\\.SwitchService/Switch  \\{"route":"chat","variant":"small"\\}  → ok$`,
    ),
  );
  const listed = await run(process.execPath, [bin, "key", "list"], { env });
  assert.match(listed.stdout, /operator {2}"ops"/);
  const refused = await run(process.execPath, [bin, "key", "list"], { env: { ...env, TURNOUT_TOKEN: operator } }).catch(
    (e: { code: number; stderr: string }) => e,
  );
  assert.equal((refused as { code: number }).code, 1);
  assert.match((refused as { stderr: string }).stderr, /PermissionDenied: .* needs admin/);
});
