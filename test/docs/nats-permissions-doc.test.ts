import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { natsPermissions } from "../../src/transport/nats/nats-permissions.ts";
import { natsAuthConfig, natsPermissionTable } from "../support/nats-auth-config.ts";

const page = readFileSync(new URL("../../docs/distributed.md", import.meta.url), "utf8");

/** The example of docs/distributed.md: the test's config (distributed-nats-auth.test.ts) with placeholder secrets and paths. */
function exampleConfig(): string {
  const permissions = natsPermissions();
  return natsAuthConfig({
    users: [
      { user: "control", password: "CHANGE-ME-control", permissions: permissions.control },
      { user: "proxy", password: "CHANGE-ME-proxy", permissions: permissions.proxy },
    ],
    tls: {
      certFile: "/etc/nats/tls/server.pem",
      keyFile: "/etc/nats/tls/server-key.pem",
      caFile: "/etc/nats/tls/ca.pem",
      verify: true,
    },
  });
}

test("docs/distributed.md shows the permissions of each role as the code defines them", () => {
  const { control, proxy } = natsPermissions();
  const table = natsPermissionTable({ "control plane": control, proxy });
  assert.ok(page.includes(table), `docs/distributed.md should contain this table:\n\n${table}\n`);
});

test("docs/distributed.md shows the nats-server config the credentials test runs, with placeholders", () => {
  const block = `\`\`\`\n${exampleConfig()}\`\`\``;
  assert.ok(page.includes(block), `docs/distributed.md should contain this block:\n\n${block}\n`);
});
