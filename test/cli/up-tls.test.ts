import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { copyFileSync, renameSync } from "node:fs";
import { join } from "node:path";
import * as tls from "node:tls";
import { promisify } from "node:util";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import OpenAI from "openai";
import { Agent, fetch as undiciFetch, request } from "undici";
import { AdminService } from "../../gen/turnout/v1/admin_pb.js";
import { ChatService } from "../../gen/turnout/v1/chat_pb.js";
import { startSimulator } from "../../src/sim/simulator.ts";
import { createTestCa } from "../support/test-certs.ts";
import { startTurnout } from "../support/turnout-process.ts";
import { until } from "../support/until.ts";
import { writeFile } from "node:fs/promises";

const messages = [{ role: "user" as const, content: "hello over tls" }];

/** The fingerprint of the certificate the TLS server at `url` presents. */
async function servedFingerprint(url: string, ca: string, client?: { cert: string; key: string }): Promise<string> {
  const { hostname, port } = new URL(url);
  const socket = tls.connect({ host: hostname, port: Number(port), ca, servername: "localhost", ...client });
  try {
    await new Promise<void>((resolve, reject) => socket.once("secureConnect", resolve).once("error", reject));
    return socket.getPeerX509Certificate()!.fingerprint256;
  } finally {
    socket.destroy();
  }
}

test("turnout up over TLS: the openai client chats with a test CA, HTTP/2 and HTTP/1.1 share the port, admin needs a client certificate, and a renewed certificate is served", async () => {
  const sim = await startSimulator({ models: ["qwen3:32b"], ttftMs: 1, tokensPerSecond: 2000, outputTokens: 6 });
  const ca = createTestCa();
  const traffic = ca.server("traffic");
  ca.server("admin"); // admin.crt / admin.key, named relative to the config file
  const operator = ca.client("operator");
  // The traffic certificate is served from files that get replaced later.
  const live = { certFile: join(ca.dir, "live.crt"), keyFile: join(ca.dir, "live.key") };
  copyFileSync(traffic.certFile, live.certFile);
  copyFileSync(traffic.keyFile, live.keyFile);
  const config = join(ca.dir, "turnout.yaml");
  await writeFile(
    config,
    `nodes: [ { id: gpu-1, url: "${sim.url}" } ]
routes: [ { name: qwen3-32b, variants: [ { name: big, model: "qwen3:32b" } ] } ]
listen:
  admin: { tls: { cert_file: admin.crt, key_file: admin.key, client_ca_file: ca.crt } }
`,
  );
  const agents: Agent[] = [];
  const agent = (connect: tls.ConnectionOptions, allowH2 = false) => {
    const a = new Agent({ connect: { ca: ca.ca, ...connect }, allowH2 });
    agents.push(a);
    return a;
  };
  const p = await startTurnout(
    [
      "up",
      ...["--port", "0", "--admin-port", "0", "--data-dir", join(ca.dir, "data"), "--config", config],
      ...["--tls-cert", live.certFile, "--tls-key", live.keyFile],
    ],
    "traffic",
    { TURNOUT_ADMIN_TOKEN: undefined },
  );
  try {
    const adminUrl = /admin (https:\/\/\S+)/.exec(p.stderr())![1];
    assert.match(p.url, /^https:\/\/127\.0\.0\.1:\d+$/);

    // The openai SDK, trusting only the test CA.
    const dispatcher = agent({});
    const openai = new OpenAI({
      baseURL: `${p.url}/v1`,
      apiKey: "unused",
      maxRetries: 0,
      fetch: (url, init) => undiciFetch(url as string, { ...(init as object), dispatcher }) as unknown as Promise<Response>,
    });
    const completion = await openai.chat.completions.create({ model: "qwen3-32b", messages });
    assert.equal(completion.model, "qwen3-32b");
    assert.ok((completion.choices[0].message.content ?? "").length > 0);
    let streamed = "";
    for await (const chunk of await openai.chat.completions.create({ model: "qwen3-32b", messages, stream: true }))
      streamed += chunk.choices[0]?.delta.content ?? "";
    assert.ok(streamed.length > 0);

    // Connect over HTTP/2 and curl over HTTP/1.1 on the same TLS port.
    const chat = createClient(
      ChatService,
      createConnectTransport({ baseUrl: p.url, httpVersion: "2", nodeOptions: { ca: ca.ca } }),
    );
    let done = false;
    for await (const res of chat.chat({ model: "qwen3-32b", user: "alice", messages: [{ role: "user", content: "hi" }] }))
      if (res.event.case === "done") done = true;
    assert.ok(done, "the Connect stream over h2 ended with done");
    const { stdout } = await promisify(execFile)("curl", [
      ...["-sS", "--http1.1", "--cacert", ca.caFile, "-o", "/dev/null", "-w", "%{http_version} %{http_code}"],
      `${p.url}/api/tags`,
    ]);
    assert.equal(stdout, "1.1 200");

    // Admin: refused without a client certificate, served with one (Connect over h1, gRPC over h2).
    await assert.rejects(
      request(`${adminUrl}/turnout.v1.AdminService/ListRoutes`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: "{}",
        dispatcher: agent({}),
      }),
      /certificate required|other side closed/,
    );
    const withCert = { cert: operator.cert, key: operator.key };
    const res = await request(`${adminUrl}/turnout.v1.AdminService/ListRoutes`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
      dispatcher: agent(withCert),
    });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(
      ((await res.body.json()) as { routes: { route: { name: string } }[] }).routes.map((r) => r.route.name),
      ["qwen3-32b"],
    );
    const grpc = createClient(AdminService, createGrpcTransport({ baseUrl: adminUrl, nodeOptions: { ca: ca.ca, ...withCert } }));
    assert.equal((await grpc.getCurrentModel({ route: "qwen3-32b" })).variant, "big");

    // A renewed traffic certificate, swapped in by rename, is served without a restart.
    const renewed = ca.server("renewed");
    copyFileSync(renewed.keyFile, `${live.keyFile}.new`);
    renameSync(`${live.keyFile}.new`, live.keyFile);
    copyFileSync(renewed.certFile, `${live.certFile}.new`);
    renameSync(`${live.certFile}.new`, live.certFile);
    const want = new X509Certificate(renewed.cert).fingerprint256;
    await until("the renewed certificate to be served", async () => (await servedFingerprint(p.url, ca.ca)) === want);
    const after = await openai.chat.completions.create({ model: "qwen3-32b", messages });
    assert.equal(after.model, "qwen3-32b");
  } finally {
    for (const a of agents) await a.close();
    await p.stop();
    await sim.close();
    ca.remove();
  }
});
