import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as net from "node:net";
import { startNatsServer } from "../support/nats-server.ts";

/** Connects over TCP and answers the first line the server sends (its INFO). */
function firstLine(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1");
    let data = "";
    socket.on("data", (chunk) => {
      data += chunk.toString("utf8");
      const end = data.indexOf("\r\n");
      if (end >= 0) {
        socket.destroy();
        resolve(data.slice(0, end));
      }
    });
    socket.on("error", reject);
  });
}

test("startNatsServer runs JetStream on a free port; kill and restart keep port and store; stop removes its store", async () => {
  const server = await startNatsServer();
  assert.equal(server.url, `nats://127.0.0.1:${server.port}`);
  assert.match(await firstLine(server.port), /^INFO .*"jetstream":true/);
  await server.kill();
  await assert.rejects(firstLine(server.port), /ECONNREFUSED/);
  await server.restart();
  assert.match(await firstLine(server.port), /^INFO /);
  assert.ok(fs.existsSync(server.storeDir));
  await server.stop();
  assert.equal(fs.existsSync(server.storeDir), false);
  await assert.rejects(firstLine(server.port), /ECONNREFUSED/);
});

test("a given store dir is kept after stop", async (t) => {
  const dir = fs.mkdtempSync("/tmp/turnout-nats-given-");
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const server = await startNatsServer({ storeDir: dir });
  assert.equal(server.storeDir, dir);
  await server.stop();
  assert.ok(fs.existsSync(dir));
});
