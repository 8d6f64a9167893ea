import { test } from "node:test";
import assert from "node:assert/strict";
import { redactNatsUrl, splitNatsUrls } from "../../src/transport/nats/nats-url.ts";

test("a user and password in the URL are split off the server URL", () => {
  assert.deepEqual(splitNatsUrls("nats://turnout:s3cret@nats-1:4222"), {
    servers: ["nats://nats-1:4222"],
    credentials: { user: "turnout", password: "s3cret" },
  });
});

test("a user part without a colon is a token, as with the Go client", () => {
  assert.deepEqual(splitNatsUrls("nats://t0ken@127.0.0.1:4222").credentials, { token: "t0ken" });
});

test("credentials are percent-decoded, so a password may hold @ and :", () => {
  const { servers, credentials } = splitNatsUrls("tls://us%40r:p%40ss%3Aword@host:4222");
  assert.deepEqual(servers, ["tls://host:4222"]);
  assert.deepEqual(credentials, { user: "us@r", password: "p@ss:word" });
});

test("comma-separated URLs: bare ones take the credentials another carries", () => {
  assert.deepEqual(splitNatsUrls("nats://a:pw@h1:4222, h2:4222"), {
    servers: ["nats://h1:4222", "h2:4222"],
    credentials: { user: "a", password: "pw" },
  });
  assert.deepEqual(splitNatsUrls(["nats://h1:4222"]), { servers: ["nats://h1:4222"], credentials: {} });
});

test("URLs carrying different credentials are refused without showing them", () => {
  assert.throws(
    () => splitNatsUrls("nats://a:first-secret@h1,nats://a:second-secret@h2"),
    (err: Error) => /different credentials/.test(err.message) && !/secret/.test(err.message),
  );
});

test("a bad percent-encoding is refused without showing the user part", () => {
  assert.throws(
    () => splitNatsUrls("nats://u:bad%zzsecret@h"),
    (err: Error) => /percent-encoding/.test(err.message) && !/secret/.test(err.message),
  );
});

test("printed URLs show the user but never the password or token", () => {
  assert.equal(redactNatsUrl("nats://turnout:s3cret@host:4222"), "nats://turnout:***@host:4222");
  assert.equal(redactNatsUrl("nats://t0ken@host:4222"), "nats://***@host:4222");
  assert.equal(redactNatsUrl("nats://host:4222"), "nats://host:4222");
  assert.equal(redactNatsUrl("nats://a:x@h1:4222,h2:4222"), "nats://a:***@h1:4222,h2:4222");
  assert.equal(redactNatsUrl("u:p%40ss@h"), "u:***@h");
});
