import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { after, before, describe, it } from "node:test";
import { pino } from "pino";
import { ErrorCode, TurnoutError } from "../../src/errors.ts";
import { startProxy, type ProxyOptions } from "../../src/proxy/proxy.ts";
import { isLoopbackHost } from "../../src/server/is-loopback-host.ts";
import { createFileKvStore } from "../../src/transport/memory/file-kv-store.ts";
import type { KvStore } from "../../src/transport/types.ts";

/** A logger whose JSON lines the test reads. */
function capturingLogger() {
  const lines: { level: number; msg: string }[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split("\n")) if (line !== "") lines.push(JSON.parse(line));
      done();
    },
  });
  return { logger: pino({ level: "info" }, stream), lines };
}

describe("secure by default on the traffic port", () => {
  let dir: string;
  let store: KvStore;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "turnout-exposure-"));
    store = createFileKvStore({ dir, fsync: false });
  });
  after(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  const start = (host: string, clientAuth: ProxyOptions["clientAuth"], logger = capturingLogger().logger) =>
    startProxy({ store, port: 0, host, logger, clientAuth, closeGraceMs: 100, refSecret: "exposure-test-secret-0123" });

  it("refuses a non-loopback traffic address without client keys, naming both settings", async () => {
    for (const clientAuth of [undefined, {}, { requireClientKeys: false, allowAnonymousTraffic: false }]) {
      await assert.rejects(start("0.0.0.0", clientAuth), (err: unknown) => {
        assert.ok(err instanceof TurnoutError);
        assert.equal(err.code, ErrorCode.FailedPrecondition);
        for (const name of ["--require-client-keys", "auth.require_client_keys", "--allow-anonymous-traffic"])
          assert.ok(err.message.includes(name), `${name} in: ${err.message}`);
        return true;
      });
    }
  });

  it("starts on a non-loopback address with client keys required, or anonymous traffic allowed (and says so)", async () => {
    const keyed = await start("0.0.0.0", { requireClientKeys: true });
    const res = await fetch(`http://127.0.0.1:${keyed.port}/api/tags`);
    assert.equal(res.status, 503, "no snapshot yet, but listening on every address");
    await res.text();
    await keyed.close();
    const { logger, lines } = capturingLogger();
    const open = await start("0.0.0.0", { allowAnonymousTraffic: true }, logger);
    await open.close();
    assert.equal(lines.filter((l) => /without client keys/.test(l.msg)).length, 1);
    assert.equal(lines.find((l) => /without client keys/.test(l.msg))?.level, 40, "a warning");
  });

  it("says in one log line that loopback traffic is anonymous, and nothing when keys are required", async () => {
    const anonymous = capturingLogger();
    await (await start("127.0.0.1", undefined, anonymous.logger)).close();
    assert.deepEqual(
      anonymous.lines.filter((l) => /anonymous/.test(l.msg)).map((l) => l.msg),
      ["traffic port on loopback without client keys: every request is anonymous"],
    );
    const keyed = capturingLogger();
    await (await start("127.0.0.1", { requireClientKeys: true }, keyed.logger)).close();
    assert.equal(keyed.lines.filter((l) => /anonymous/.test(l.msg)).length, 0);
  });

  it("counts only addresses of this machine as loopback", () => {
    for (const host of ["127.0.0.1", "127.1.2.3", "localhost", "LOCALHOST", "::1", "[::1]", "::ffff:127.0.0.1"])
      assert.equal(isLoopbackHost(host), true, host);
    for (const host of ["0.0.0.0", "::", "", "10.0.0.5", "192.168.1.1", "example.com", "localhost.example.com", "128.0.0.1"])
      assert.equal(isLoopbackHost(host), false, host);
  });
});
