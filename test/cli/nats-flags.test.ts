import { test } from "node:test";
import assert from "node:assert/strict";
import { natsCredentials } from "../../src/cli/nats-flags.ts";

const url = "nats://127.0.0.1:4222";

test("each NATS flag gives its way to authenticate", () => {
  assert.deepEqual(natsCredentials({ "nats-creds": "a.creds" }, url, {}), { credsFile: "a.creds" });
  assert.deepEqual(natsCredentials({ "nats-nkey": "a.nk" }, url, {}), { nkeyFile: "a.nk" });
  assert.deepEqual(natsCredentials({ "nats-token": "t" }, url, {}), { token: "t" });
  assert.deepEqual(natsCredentials({}, url, {}), {});
});

test("the environment is the fallback when no flag and no URL gives credentials", () => {
  assert.deepEqual(natsCredentials({}, url, { NATS_TOKEN: "t" }), { token: "t" });
  assert.deepEqual(natsCredentials({}, url, { NATS_USER: "u", NATS_PASSWORD: "p" }), { user: "u", password: "p" });
  assert.deepEqual(natsCredentials({ "nats-nkey": "a.nk" }, url, { NATS_USER: "u", NATS_PASSWORD: "p" }), {
    nkeyFile: "a.nk",
  });
  // the URL's credentials stay in it (the connection takes them from there); the environment is ignored
  assert.deepEqual(natsCredentials({}, "nats://u:p@h:4222", { NATS_TOKEN: "t" }), {});
});

test("two explicit ways to authenticate are refused, naming both", () => {
  assert.throws(() => natsCredentials({ "nats-creds": "a", "nats-token": "t" }, url, {}), /--nats-creds and --nats-token/);
  assert.throws(
    () => natsCredentials({ "nats-nkey": "a" }, "nats://u:p@h", {}),
    /--nats-nkey and the credentials in the NATS URL/,
  );
  assert.throws(() => natsCredentials({}, url, { NATS_TOKEN: "t", NATS_USER: "u" }), /NATS_TOKEN and NATS_USER/);
  assert.throws(() => natsCredentials({}, url, { NATS_PASSWORD: "p" }), /NATS_PASSWORD is set without NATS_USER/);
});

test("TLS flags: a CA alone, or a client certificate with its key", () => {
  assert.deepEqual(natsCredentials({ "nats-tls-ca": "ca.pem" }, url, {}), {
    tls: { caFile: "ca.pem", certFile: undefined, keyFile: undefined },
  });
  assert.deepEqual(natsCredentials({ "nats-tls-cert": "c.pem", "nats-tls-key": "k.pem" }, url, {}).tls, {
    caFile: undefined,
    certFile: "c.pem",
    keyFile: "k.pem",
  });
  assert.throws(() => natsCredentials({ "nats-tls-cert": "c.pem" }, url, {}), /--nats-tls-cert and --nats-tls-key go together/);
});
