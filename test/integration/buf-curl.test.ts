import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { fromBinary } from "@bufbuild/protobuf";
import { BadRequestSchema } from "../../gen/turnout/v1/error_details_pb.js";
import { startEmbedded } from "./harness.ts";

const run = promisify(execFile);
const root = new URL("../../", import.meta.url).pathname;
const buf = new URL("../../node_modules/.bin/buf", import.meta.url).pathname;

test("buf curl calls the admin service over gRPC with HTTP/2 prior knowledge, using the proto files", async () => {
  const gw = await startEmbedded({
    sims: [{ models: ["qwen3:32b", "qwen3:8b"] }],
    config: ([url]) => `
nodes: [ { id: gpu-1, url: "${url}" } ]
routes:
  - name: qwen3-32b
    default: big
    variants: [ { name: big, model: "qwen3:32b" }, { name: small, model: "qwen3:8b" } ]
`,
  });
  try {
    const call = async (method: string, data: unknown) => {
      const { stdout } = await run(
        buf,
        [
          "curl",
          "--schema",
          "proto",
          "--protocol",
          "grpc",
          "--http2-prior-knowledge",
          "--data",
          JSON.stringify(data),
          `${gw.adminUrl}/turnout.v1.AdminService/${method}`,
        ],
        { cwd: root },
      );
      return JSON.parse(stdout);
    };
    const switched = await call("SwitchModel", { route: "qwen3-32b", variant: "small" });
    assert.equal(switched.previousVariant, "big");
    const current = await call("GetCurrentModel", { route: "qwen3-32b" });
    assert.equal(current.variant, "small");
    assert.equal(current.model, "qwen3:8b");
    await assert.rejects(call("SwitchModel", { route: "qwen3-32b", variant: "nope" }), (err: { stderr: string }) => {
      // buf curl prints the error as JSON, the field violations as a turnout.v1.BadRequest detail
      const printed = JSON.parse(err.stderr) as { code: string; details: { type: string; value: string }[] };
      assert.equal(printed.code, "invalid_argument");
      assert.deepEqual(
        printed.details.map((d) => d.type),
        ["turnout.v1.BadRequest"],
      );
      const detail = fromBinary(BadRequestSchema, Buffer.from(printed.details[0].value, "base64"));
      assert.deepEqual(
        detail.fieldViolations.map((v) => v.field),
        ["variant"],
      );
      return true;
    });
  } finally {
    await gw.close();
  }
});
