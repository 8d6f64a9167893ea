import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { copyFileSync, renameSync, writeFileSync } from "node:fs";
import type { ServerResponse } from "node:http";
import * as http2 from "node:http2";
import { join } from "node:path";
import * as tls from "node:tls";
import { Writable } from "node:stream";
import { promisify } from "node:util";
import { pino } from "pino";
import { Agent, request } from "undici";
import { ErrorCode, TurnoutError } from "../../src/errors.ts";
import { listenDual, type DualHandler } from "../../src/server/dual-server.ts";
import { createTestCa } from "../support/test-certs.ts";
import { until } from "../support/until.ts";

/** Requests that reached the handler. */
let served = 0;

/** Answers which protocol carried the request and whether it was encrypted. */
const handler: DualHandler = (req, res) => {
  served++;
  const encrypted = (req.socket as { encrypted?: boolean }).encrypted === true;
  (res as ServerResponse).writeHead(200, { "content-type": "application/json" });
  res.end(JSON.stringify({ httpVersion: req.httpVersion, encrypted }));
};

/** The fingerprint of the certificate a TLS server at `port` presents. */
async function servedFingerprint(port: number, ca: string): Promise<string> {
  const socket = tls.connect({ host: "127.0.0.1", port, ca, servername: "localhost", ALPNProtocols: ["http/1.1"] });
  try {
    await new Promise<void>((resolve, reject) => socket.once("secureConnect", resolve).once("error", reject));
    return socket.getPeerX509Certificate()!.fingerprint256;
  } finally {
    socket.destroy();
  }
}

/** GET / over HTTP/2 with `options` for the TLS connection; answers the JSON body. */
async function h2Get(
  url: string,
  options: http2.SecureClientSessionOptions,
): Promise<{ httpVersion: string; encrypted: boolean }> {
  const session = http2.connect(url, options);
  try {
    const stream = session.request({ ":path": "/" });
    let body = "";
    stream.setEncoding("utf8").on("data", (c: string) => (body += c));
    await new Promise<void>((resolve, reject) => stream.once("end", resolve).once("error", reject));
    return JSON.parse(body);
  } finally {
    session.close();
  }
}

test("one TLS port negotiates HTTP/2 and HTTP/1.1 by ALPN (node http2, undici, curl)", async () => {
  const ca = createTestCa();
  const cert = ca.server("server");
  const server = await listenDual({ port: 0, handler, tls: cert });
  const agent = new Agent({ connect: { ca: ca.ca }, allowH2: false });
  try {
    assert.match(server.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    assert.deepEqual(await h2Get(server.url, { ca: ca.ca }), { httpVersion: "2.0", encrypted: true });
    const h1 = await request(server.url, { dispatcher: agent });
    assert.deepEqual(await h1.body.json(), { httpVersion: "1.1", encrypted: true });
    const curl = async (flag: string) => {
      const { stdout } = await promisify(execFile)("curl", [
        "-sS",
        flag,
        "--cacert",
        ca.caFile,
        "-w",
        " %{http_version}",
        server.url,
      ]);
      return stdout;
    };
    assert.equal(await curl("--http2"), '{"httpVersion":"2.0","encrypted":true} 2');
    assert.equal(await curl("--http1.1"), '{"httpVersion":"1.1","encrypted":true} 1.1');
    // A cleartext client on the TLS port gets no answer from the handler.
    await assert.rejects(request(server.url.replace("https:", "http:")));
  } finally {
    await agent.close();
    await server.close();
    ca.remove();
  }
});

/** A logger whose JSON lines are kept in `lines`. */
function capturingLogger() {
  const lines: { msg: string; [k: string]: unknown }[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString("utf8").split("\n")) if (line) lines.push(JSON.parse(line));
      done();
    },
  });
  return { logger: pino({ level: "info" }, stream), lines };
}

const fingerprint = (pem: string) => new X509Certificate(pem).fingerprint256;

test("a renewed certificate is served without a restart; files that do not load keep the old one", async () => {
  const ca = createTestCa();
  const first = ca.server("first");
  const second = ca.server("second");
  const third = ca.server("third");
  const live = { certFile: join(ca.dir, "live.crt"), keyFile: join(ca.dir, "live.key"), reloadIntervalMs: 20 };
  copyFileSync(first.certFile, live.certFile);
  copyFileSync(first.keyFile, live.keyFile);
  const { logger, lines } = capturingLogger();
  const server = await listenDual({ port: 0, handler, tls: live, logger });
  try {
    assert.equal(await servedFingerprint(server.port, ca.ca), fingerprint(first.cert));
    // Replaced by rename, the way certbot and cert-manager swap files in.
    writeFileSync(`${live.keyFile}.tmp`, second.key);
    renameSync(`${live.keyFile}.tmp`, live.keyFile);
    writeFileSync(`${live.certFile}.tmp`, second.cert);
    renameSync(`${live.certFile}.tmp`, live.certFile);
    await until(
      "the second certificate to be served",
      async () => (await servedFingerprint(server.port, ca.ca)) === fingerprint(second.cert),
    );
    const reloads = lines.filter((l) => l.msg === "reloaded the TLS certificate").length;
    assert.ok(reloads >= 1);

    // A certificate whose key has not arrived yet does not load: the second stays until it does.
    writeFileSync(live.certFile, third.cert);
    const warning = await until("the mismatch to be reported", () => lines.find((l) => l.level === 40));
    assert.match(String(warning.error), /key values mismatch/);
    assert.equal(await servedFingerprint(server.port, ca.ca), fingerprint(second.cert));
    writeFileSync(live.keyFile, third.key);
    await until(
      "the third certificate to be served",
      async () => (await servedFingerprint(server.port, ca.ca)) === fingerprint(third.cert),
    );
  } finally {
    await server.close();
    ca.remove();
  }
});

test("with a client CA, a client without a certificate, or with one of another CA, is refused; one with a certificate is served", async () => {
  const ca = createTestCa();
  const other = createTestCa("Another CA");
  const client = ca.client("operator");
  const stranger = other.client("stranger");
  const server = await listenDual({ port: 0, handler, tls: { ...ca.server("server"), clientCaFile: ca.caFile } });
  const agents: Agent[] = [];
  const get = (connect: tls.ConnectionOptions) => {
    const agent = new Agent({ connect: { ca: ca.ca, ...connect }, allowH2: false });
    agents.push(agent);
    return request(server.url, { dispatcher: agent });
  };
  try {
    served = 0;
    await assert.rejects(get({}), /certificate required|other side closed/);
    await assert.rejects(get({ cert: stranger.cert, key: stranger.key }), /unknown ca|other side closed/);
    await assert.rejects(h2Get(server.url, { ca: ca.ca }));
    assert.equal(served, 0, "no refused client reached the handler");
    const res = await get({ cert: client.cert, key: client.key });
    assert.deepEqual(await res.body.json(), { httpVersion: "1.1", encrypted: true });
    assert.deepEqual(await h2Get(server.url, { ca: ca.ca, cert: client.cert, key: client.key }), {
      httpVersion: "2.0",
      encrypted: true,
    });
    assert.equal(served, 2);
  } finally {
    for (const agent of agents) await agent.close();
    await server.close();
    ca.remove();
    other.remove();
  }
});

test("a missing certificate file or a key of another certificate fails the start, naming the file", async () => {
  const ca = createTestCa();
  const a = ca.server("a");
  const b = ca.server("b");
  try {
    const missing = join(ca.dir, "missing.crt");
    await assert.rejects(listenDual({ port: 0, handler, tls: { certFile: missing, keyFile: a.keyFile } }), (err: unknown) => {
      assert.ok(err instanceof TurnoutError);
      assert.equal(err.code, ErrorCode.InvalidArgument);
      assert.equal(err.message, `TLS certificate ${missing}: no such file`);
      return true;
    });
    await assert.rejects(
      listenDual({ port: 0, handler, tls: { certFile: a.certFile, keyFile: b.keyFile } }),
      new RegExp(`TLS certificate ${a.certFile} with key ${b.keyFile} does not load: .*key values mismatch`),
    );
  } finally {
    ca.remove();
  }
});
