import { test } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runTurnout } from "../support/turnout-process.ts";

const TOKEN = "admin-token-0123456789abcdef";
/** A NATS URL nothing listens on: the refusals come before any connection. */
const NO_NATS = "nats://127.0.0.1:1";

/** Runs `turnout <args>`, expects a non-zero exit with one line on stderr, and answers that line. */
async function refused(args: string[], env: Record<string, string | undefined> = {}): Promise<string> {
  const { code, stderr } = await runTurnout(args, { TURNOUT_ADMIN_TOKEN: undefined, ...env });
  assert.notEqual(code, 0, `exit code of turnout ${args.join(" ")}`);
  const lines = stderr.trimEnd().split("\n");
  assert.equal(lines.length, 1, `one line, no stack trace:\n${stderr}`);
  assert.match(lines[0], /^turnout: /);
  return lines[0];
}

test("a listener reachable from other machines without credentials refuses to start, naming the setting to change", async () => {
  const dir = mkdtempSync(join(tmpdir(), "turnout-refuse-"));
  try {
    const up = ["up", "--port", "0", "--admin-port", "0", "--sim-port", "0", "--data-dir", join(dir, "data")];
    const noToken = await refused([...up, "--host", "0.0.0.0"]);
    assert.match(noToken, /refusing to start: .*binds traffic to 0\.0\.0\.0.*TURNOUT_ADMIN_TOKEN \(or auth\.admin_token_file\)/);
    assert.match(noToken, /--require-client-keys .*--allow-anonymous-traffic/);
    assert.match(await refused([...up, "--host", "0.0.0.0", "--require-client-keys"]), /TURNOUT_ADMIN_TOKEN/);
    assert.match(await refused([...up, "--admin-host", "0.0.0.0"]), /the admin port binds 0\.0\.0\.0.*TURNOUT_ADMIN_TOKEN/);
    const anonymous = await refused([...up, "--host", "0.0.0.0"], { TURNOUT_ADMIN_TOKEN: TOKEN });
    assert.doesNotMatch(anonymous, /TURNOUT_ADMIN_TOKEN/);
    assert.match(
      anonymous,
      /without client keys: set --require-client-keys \(auth\.require_client_keys\), or --allow-anonymous-traffic/,
    );
    assert.match(
      await refused(["control", "--nats", NO_NATS, "--admin-port", "0", "--admin-host", "0.0.0.0"]),
      /the admin port binds 0\.0\.0\.0.*TURNOUT_ADMIN_TOKEN/,
    );
    assert.match(
      await refused(["proxy", "--nats", NO_NATS, "--port", "0", "--host", "::"]),
      /traffic port binds ::.*--require-client-keys/,
    );
    assert.equal(existsSync(join(dir, "data")), false, "nothing was started or written");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("bad flags, TLS files, admin tokens and config values fail the start with one line naming them", async () => {
  const dir = mkdtempSync(join(tmpdir(), "turnout-refuse-"));
  try {
    const up = ["up", "--port", "0", "--admin-port", "0", "--sim-port", "0", "--data-dir", join(dir, "data")];
    assert.equal(await refused([...up, "--tls-cert", join(dir, "t.crt")]), "turnout: --tls-cert: needs --tls-key too");
    assert.equal(
      await refused([...up, "--admin-tls-cert", join(dir, "a.crt"), "--admin-tls-key", join(dir, "a.key")]),
      `turnout: --admin-tls-cert/--admin-tls-key: TLS certificate ${join(dir, "a.crt")}: no such file`,
    );
    assert.match(
      await refused([...up, "--admin-client-ca", join(dir, "ca.crt")]),
      /^turnout: --admin-client-ca: client certificates need TLS/,
    );
    assert.match(await refused([...up, "--no-such-flag"]), /--no-such-flag/);
    assert.equal(
      await refused(up, { TURNOUT_ADMIN_TOKEN: "short" }),
      "turnout: TURNOUT_ADMIN_TOKEN: the admin token must be at least 16 characters (e.g. `openssl rand -hex 32`)",
    );

    const tokenFile = join(dir, "admin-token");
    writeFileSync(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
    chmodSync(tokenFile, 0o644);
    const config = join(dir, "turnout.yaml");
    writeFileSync(config, "auth: { admin_token_file: admin-token }\n");
    assert.equal(
      await refused([...up, "--config", config]),
      `turnout: auth.admin_token_file: ${tokenFile} may be read by group or others (mode 0644); make it private with \`chmod 600 ${tokenFile}\``,
    );
    writeFileSync(config, 'listen: { traffic: { address: "0.0.0.0:http" } }\n');
    assert.match(await refused([...up, "--config", config]), /listen\.traffic\.address: must be a port or host:port/);
    assert.equal(existsSync(join(dir, "data")), false, "nothing was started or written");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a ref secret in the data dir that others may read stops turnout up with one line naming the file", async () => {
  const dir = mkdtempSync(join(tmpdir(), "turnout-refuse-"));
  try {
    const proxyDir = join(dir, "data", "proxy");
    const up = ["up", "--port", "0", "--admin-port", "0", "--sim-port", "0", "--data-dir", join(dir, "data")];
    mkdirSync(proxyDir, { recursive: true, mode: 0o700 });
    const file = join(proxyDir, "ref-secret");
    writeFileSync(file, `${"cd".repeat(32)}\n`, { mode: 0o600 });
    chmodSync(file, 0o604);
    assert.equal(
      await refused(up, { TURNOUT_REF_SECRET: undefined }),
      `turnout: the x-turnout-ref secret: ${file} may be read by group or others (mode 0604); make it private with \`chmod 600 ${file}\``,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
