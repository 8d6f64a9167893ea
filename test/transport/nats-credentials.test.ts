import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { nkeys } from "@nats-io/transport-node";
import { pino } from "pino";
import { ErrorCode, TurnoutError } from "../../src/errors.ts";
import { connectNats, type NatsConnectOptions } from "../../src/transport/nats/nats-connection.ts";
import { createNatsKvStore } from "../../src/transport/nats/nats-kv-store.ts";
import { natsAuthConfig } from "../support/nats-auth-config.ts";
import { createNatsOperator } from "../support/nats-jwt.ts";
import { startNatsServer } from "../support/nats-server.ts";
import { makeCertificates } from "../support/test-certs.ts";
import { until } from "../support/until.ts";

const PASSWORD = "pw-9f3e1c7a";

/** A logger that keeps its lines. */
function capture() {
  let text = "";
  const stream = new Writable({
    write(chunk, _enc, done) {
      text += String(chunk);
      done();
    },
  });
  return { logger: pino({ level: "debug" }, stream), text: () => text };
}

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), "turnout-nats-creds-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function connectsAndWrites(options: Omit<NatsConnectOptions, "name" | "logger">): Promise<void> {
  const link = await connectNats({ ...options, name: "creds-test", logger: capture().logger });
  try {
    const store = await createNatsKvStore({ link, logger: capture().logger });
    await store.put("probe", new TextEncoder().encode("ok"));
    assert.equal(new TextDecoder().decode((await store.get("probe"))?.value), "ok");
  } finally {
    await link.close();
  }
}

/** Asserts the promise rejects with a failed_precondition TurnoutError matching `pattern` and not showing `secret`. */
async function refused(promise: Promise<unknown>, pattern: RegExp, secret = PASSWORD): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof TurnoutError, String(err));
    assert.equal(err.code, ErrorCode.FailedPrecondition);
    assert.match(err.message, pattern);
    assert.ok(!err.message.includes(secret), err.message);
    return true;
  });
}

test("a user and password from the URL or the options authenticate; a wrong or missing password fails at once, naming the user", async (t) => {
  const server = await startNatsServer({ config: natsAuthConfig({ users: [{ user: "turnout", password: PASSWORD }] }) });
  t.after(() => server.stop());
  const host = `127.0.0.1:${server.port}`;
  await connectsAndWrites({ servers: `nats://turnout:${PASSWORD}@${host}` });
  await connectsAndWrites({ servers: server.url, credentials: { user: "turnout", password: PASSWORD } });
  await refused(
    connectNats({ servers: `nats://turnout:wrong-${PASSWORD}@${host}`, name: "x", logger: capture().logger }),
    /refused user "turnout" \(.*authorization violation/i,
  );
  await refused(
    connectNats({ servers: server.url, name: "x", logger: capture().logger }),
    /refused a client without credentials/,
  );
  // tls:// requires TLS, which this server does not offer
  await refused(
    connectNats({ servers: `tls://turnout:${PASSWORD}@${host}`, name: "x", logger: capture().logger }),
    /TLS to NATS at tls:\/\/127\.0\.0\.1:\d+ failed \(server does not support 'tls'\)/,
  );
});

test("a token authenticates from the URL or the options; a wrong one is refused", async (t) => {
  const server = await startNatsServer({ config: `authorization { token: "${PASSWORD}" }\n` });
  t.after(() => server.stop());
  await connectsAndWrites({ servers: `nats://${PASSWORD}@127.0.0.1:${server.port}` });
  await connectsAndWrites({ servers: server.url, credentials: { token: PASSWORD } });
  await refused(
    connectNats({ servers: server.url, credentials: { token: `x${PASSWORD}` }, name: "x", logger: capture().logger }),
    /refused a token/,
  );
});

test("an nkey seed file authenticates; a file without a seed is refused before connecting", async (t) => {
  const dir = tempDir(t);
  const user = nkeys.createUser();
  const seed = new TextDecoder().decode(user.getSeed());
  const server = await startNatsServer({ config: natsAuthConfig({ users: [{ nkey: user.getPublicKey() }] }) });
  t.after(() => server.stop());
  const seedFile = join(dir, "user.nk");
  writeFileSync(seedFile, `# the proxy's seed\n${seed}\n`, { mode: 0o600 });
  await connectsAndWrites({ servers: server.url, credentials: { nkeyFile: seedFile } });

  const other = join(dir, "other.nk");
  writeFileSync(other, `${new TextDecoder().decode(nkeys.createUser().getSeed())}\n`, { mode: 0o600 });
  await refused(
    connectNats({ servers: server.url, credentials: { nkeyFile: other }, name: "x", logger: capture().logger }),
    /refused nkey U/,
    seed,
  );

  const empty = join(dir, "empty.nk");
  writeFileSync(empty, "no seed here\n", { mode: 0o600 });
  await assert.rejects(
    connectNats({ servers: server.url, credentials: { nkeyFile: empty }, name: "x", logger: capture().logger }),
    {
      code: ErrorCode.InvalidArgument,
      message: /no valid nkey seed/,
    },
  );
  await assert.rejects(
    connectNats({ servers: server.url, credentials: { nkeyFile: join(dir, "missing.nk") }, name: "x", logger: capture().logger }),
    { code: ErrorCode.InvalidArgument, message: /missing\.nk: cannot read it \(ENOENT\)/ },
  );
});

test("a creds file authenticates against a server in operator mode; another operator's user is refused; a file without creds is refused before connecting", async (t) => {
  const dir = tempDir(t);
  const operator = createNatsOperator();
  const server = await startNatsServer({ config: operator.serverConfig() });
  t.after(() => server.stop());
  const creds = join(dir, "proxy.creds");
  writeFileSync(creds, operator.userCreds("turnout-proxy"), { mode: 0o600 });
  await connectsAndWrites({ servers: server.url, credentials: { credsFile: creds } });

  const stranger = join(dir, "stranger.creds");
  writeFileSync(stranger, createNatsOperator().userCreds("stranger"), { mode: 0o600 });
  await refused(
    connectNats({ servers: server.url, credentials: { credsFile: stranger }, name: "x", logger: capture().logger }),
    /refused the creds of "stranger" \(.*authorization violation/i,
  );

  const notCreds = join(dir, "not.creds");
  writeFileSync(notCreds, "just text\n", { mode: 0o600 });
  await assert.rejects(
    connectNats({ servers: server.url, credentials: { credsFile: notCreds }, name: "x", logger: capture().logger }),
    {
      code: ErrorCode.InvalidArgument,
      message: /not\.creds: not a creds file/,
    },
  );
});

test("TLS with the test CA and a client certificate connects; an untrusted CA fails at once; without a client certificate the error says it may be why", async (t) => {
  const dir = tempDir(t);
  const certs = makeCertificates(dir);
  const server = await startNatsServer({
    config: natsAuthConfig({
      users: [{ user: "turnout", password: PASSWORD }],
      tls: { certFile: certs.serverCertFile, keyFile: certs.serverKeyFile, caFile: certs.caFile, verify: true },
    }),
  });
  t.after(() => server.stop());
  const servers = `nats://turnout:${PASSWORD}@127.0.0.1:${server.port}`;
  const clientTls = { caFile: certs.caFile, certFile: certs.clientCertFile, keyFile: certs.clientKeyFile };
  await connectsAndWrites({ servers, credentials: { tls: clientTls } });

  const log = capture();
  // TLS 1.3: the server drops a client without a certificate after the handshake, so the client only sees a timeout
  await assert.rejects(
    connectNats({
      servers,
      credentials: { tls: { caFile: certs.caFile } },
      name: "x",
      logger: log.logger,
      requestTimeoutMs: 500,
    }),
    { code: ErrorCode.Unavailable, message: /timeout; over TLS without a client certificate, a server that requires one/ },
  );
  await refused(
    connectNats({ servers, credentials: { tls: { ...clientTls, caFile: certs.otherCaFile } }, name: "x", logger: log.logger }),
    /TLS to NATS at .* failed \(.*(certificate|CERT)/,
  );
  await assert.rejects(
    connectNats({ servers, credentials: { tls: { certFile: certs.clientCertFile } }, name: "x", logger: log.logger }),
    { code: ErrorCode.InvalidArgument, message: /needs both its certificate file and its key file/ },
  );
});

test("in the background, a refused client logs one error line per retry interval and reports the refusal", async (t) => {
  const server = await startNatsServer({ config: natsAuthConfig({ users: [{ user: "turnout", password: PASSWORD }] }) });
  t.after(() => server.stop());
  const log = capture();
  const link = await connectNats({
    servers: server.url,
    credentials: { user: "turnout", password: `wrong-${PASSWORD}` },
    name: "background",
    logger: log.logger,
    waitForFirstConnect: true,
    refusedRetryMs: 100,
  });
  t.after(() => link.close());
  const refusals = () => log.text().match(/refused user \\"turnout\\".*retrying every 100 ms/g)?.length ?? 0;
  await until("two refusal lines", () => refusals() >= 2);
  assert.equal(link.connected(), false);
  assert.throws(() => link.require("put x"), /NATS is unreachable: put x failed \(NATS at .* refused user "turnout"/);
  assert.ok(!log.text().includes(PASSWORD));
});

test("credentials revoked while connected are logged as refused on every reconnect attempt, and a restored user reconnects", async (t) => {
  const config = (password: string) => natsAuthConfig({ users: [{ user: "turnout", password }] });
  const server = await startNatsServer({ config: config(PASSWORD) });
  t.after(() => server.stop());
  const log = capture();
  const link = await connectNats({
    servers: server.url,
    credentials: { user: "turnout", password: PASSWORD },
    name: "revoked",
    logger: log.logger,
    refusedRetryMs: 100,
  });
  t.after(() => link.close());
  await server.reload(config("rotated-elsewhere"));
  await until("a refusal line after the reload", () => /refused user \\"turnout\\"/.test(log.text()));
  assert.equal(link.connected(), false);
  await server.reload(config(PASSWORD));
  await until("the link to reconnect", () => link.connected());
  assert.ok(!log.text().includes(PASSWORD));
});
