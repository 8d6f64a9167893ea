import { test } from "node:test";
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { createLogger } from "../src/log.ts";

/** A logger at info whose output is kept as text. */
function captured() {
  let text = "";
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      text += chunk.toString("utf8");
      done();
    },
  });
  return { logger: createLogger({ level: "info", destination }), text: () => text };
}

test("credentials are redacted wherever a log call puts them, and the rest is kept", () => {
  const { logger, text } = captured();
  const token = "tk_0123456789abcdef_SECRETSECRETSECRETSECRETSECRETSECRETSECRET1";
  const hook = "https://hooks.slack.com/services/T000/B000/HOOKSECRET";
  logger.info({ authorization: `Bearer ${token}` }, "top");
  logger
    .child({ component: "proxy" })
    .warn({ req: { method: "POST", headers: { authorization: `Bearer ${token}`, cookie: "s=1" } } }, "request");
  logger.info({ headers: { "x-api-key": token, "content-type": "application/json" } }, "headers");
  logger.info({ auth: { adminToken: token, password: "hunter2hunter2", token } }, "nested");
  logger.info({ alerts: { webhooks: [{ url: hook, format: "slack" }] } }, "webhooks");
  logger.info({ webhook: { url: hook }, refSecret: "0123456789abcdef0123" }, "webhook");
  const out = text();
  for (const secret of [token, "hunter2hunter2", "HOOKSECRET", "s=1", "0123456789abcdef0123"])
    assert.ok(!out.includes(secret), secret);
  const lines = out
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
  assert.equal(lines.length, 6);
  assert.equal(lines[0].authorization, "[redacted]");
  assert.deepEqual(lines[1].req, { method: "POST", headers: { authorization: "[redacted]", cookie: "[redacted]" } });
  assert.equal(lines[1].component, "proxy");
  assert.equal(lines[2].headers["content-type"], "application/json");
  assert.deepEqual(lines[4].alerts.webhooks, [{ url: "[redacted]", format: "slack" }]);
});
