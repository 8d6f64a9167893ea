import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfigFile, parseConfig } from "../../src/control/config/load-config.ts";
import { problemsOf } from "./problems-of.ts";

const state = `
nodes:
  - { id: gpu-1, url: "http://127.0.0.1:11434" }
routes:
  - { name: qwen3-32b, variants: [ { name: big, model: "qwen3:32b" } ] }
`;

test("listen takes an address string or a mapping with an address and TLS files per listener", () => {
  const config = parseConfig(
    `${state}
listen:
  traffic:
    address: "0.0.0.0:8443"
    tls: { cert_file: /etc/turnout/traffic.crt, key_file: /etc/turnout/traffic.key }
  admin:
    tls: { cert_file: admin.crt, key_file: admin.key, client_ca_file: ops-ca.crt }
`,
    "test",
  );
  assert.deepEqual(config.listen, {
    traffic: "0.0.0.0:8443",
    admin: undefined,
    tls: {
      traffic: { certFile: "/etc/turnout/traffic.crt", keyFile: "/etc/turnout/traffic.key" },
      admin: { certFile: "admin.crt", keyFile: "admin.key", clientCaFile: "ops-ca.crt" },
    },
  });
  assert.deepEqual(parseConfig(`${state}listen: { traffic: "8080", admin: "127.0.0.1:8081" }\n`, "test").listen, {
    traffic: "8080",
    admin: "127.0.0.1:8081",
  });
});

test("bad listen values are reported with the field that holds them", () => {
  assert.deepEqual(
    problemsOf(() =>
      parseConfig(
        `${state}
listen:
  traffic:
    address: "0.0.0.0:99999"
    tls: { cert_file: t.crt, client_ca_file: ca.crt }
  admin:
    address: [1]
    tls: { cert_file: "", key_file: a.key }
    port: 1
`,
        "test",
      ),
    ),
    [
      "listen.admin.address: must be a string, got a list",
      "listen.admin.port: unknown key (allowed: address, tls)",
      "listen.admin.tls.cert_file: must be a file path, got an empty string",
      'listen.traffic.address: must be a port or host:port, got "0.0.0.0:99999"',
      "listen.traffic.tls.client_ca_file: unknown key (allowed: cert_file, key_file)",
      "listen.traffic.tls.key_file: is required with tls",
    ],
  );
  assert.deepEqual(
    problemsOf(() => parseConfig(`${state}listen: { admin: "host:port" }\n`, "test")),
    ['listen.admin: must be a port or host:port, got "host:port"'],
  );
  assert.deepEqual(
    problemsOf(() => parseConfig(`${state}listen: { traffic: { tls: true } }\n`, "test")),
    ["listen.traffic.tls: must be a mapping, got boolean true"],
  );
});

test("the auth block is read in both config shapes, and bad values name their field", () => {
  const auth = `
auth:
  admin_token_file: /run/secrets/turnout-admin
  require_client_keys: true
  allow_anonymous_traffic: false
`;
  const expected = { adminTokenFile: "/run/secrets/turnout-admin", requireClientKeys: true, allowAnonymousTraffic: false };
  assert.deepEqual(parseConfig(`${state}${auth}`, "native").auth, expected);
  const seed = `gateway: { port: 8080, route: "qwen3:32b" }\nmodels: [ { name: "qwen3:32b", endpoint: "http://127.0.0.1:11434" } ]\n`;
  assert.deepEqual(parseConfig(`${seed}${auth}`, "seed").auth, expected);
  assert.equal(parseConfig(state, "none").auth, undefined);
  assert.deepEqual(
    problemsOf(() =>
      parseConfig(`${state}auth: { require_client_keys: "yes", admin_token_file: "", admin_token: abc }\n`, "test"),
    ),
    [
      "auth.admin_token: unknown key (allowed: admin_token_file, require_client_keys, allow_anonymous_traffic)",
      "auth.admin_token_file: must be a file path, got an empty string",
      'auth.require_client_keys: must be true or false, got string "yes"',
    ],
  );
});

test("relative TLS and token file paths are resolved against the config file's directory", async () => {
  const dir = await mkdtemp(join(tmpdir(), "turnout-config-"));
  try {
    const file = join(dir, "turnout.yaml");
    await writeFile(
      file,
      `${state}
listen:
  traffic: { address: "8443", tls: { cert_file: certs/t.crt, key_file: /abs/t.key } }
  admin: { tls: { cert_file: a.crt, key_file: a.key, client_ca_file: ../ca.crt } }
auth: { admin_token_file: secrets/admin-token }
`,
    );
    const config = await loadConfigFile(file);
    assert.deepEqual(config.listen?.tls, {
      traffic: { certFile: join(dir, "certs/t.crt"), keyFile: "/abs/t.key" },
      admin: { certFile: join(dir, "a.crt"), keyFile: join(dir, "a.key"), clientCaFile: join(dir, "../ca.crt") },
    });
    assert.equal(config.listen?.traffic, "8443");
    assert.deepEqual(config.auth, { adminTokenFile: join(dir, "secrets/admin-token") });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
