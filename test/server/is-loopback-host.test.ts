import { test } from "node:test";
import assert from "node:assert/strict";
import { isLoopbackHost } from "../../src/server/is-loopback-host.ts";

test("only loopback bind addresses count as loopback", () => {
  for (const host of ["127.0.0.1", "127.1.2.3", "localhost", "LOCALHOST", "::1", "[::1]", "::ffff:127.0.0.1"])
    assert.equal(isLoopbackHost(host), true, host);
  for (const host of [
    "0.0.0.0",
    "::",
    "",
    "10.0.0.5",
    "192.168.1.2",
    "::ffff:10.0.0.1",
    "128.0.0.1",
    "gpu-1.internal",
    "127.0.0.1.example.com",
    "localhost.example.com",
  ])
    assert.equal(isLoopbackHost(host), false, host);
});
