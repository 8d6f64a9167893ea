import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { create, createFileRegistry, fromBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema, FileDescriptorSetSchema, type FileDescriptorProto } from "@bufbuild/protobuf/wkt";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import * as v1alpha from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";
import { file_turnout_v1_admin } from "../../gen/turnout/v1/admin_pb.js";
import { file_turnout_v1_chat } from "../../gen/turnout/v1/chat_pb.js";
import { createDescriptorIndex } from "../../src/server/reflection/descriptor-index.ts";
import { startEmbedded, type Embedded } from "../integration/harness.ts";

const run = promisify(execFile);
const buf = new URL("../../node_modules/.bin/buf", import.meta.url).pathname;
const NOT_FOUND = 5;

/** `buf curl --reflect` over gRPC with HTTP/2 prior knowledge, run away from the repo's protos. */
async function bufCurl(...args: string[]): Promise<string> {
  const { stdout } = await run(buf, ["curl", "--reflect", "--protocol", "grpc", "--http2-prior-knowledge", ...args], {
    cwd: "/",
  });
  return stdout;
}

/** `files` ordered so each comes after its imports; fails when an import is missing. */
function importsFirst(files: FileDescriptorProto[]): FileDescriptorProto[] {
  const done = new Set<string>();
  const out: FileDescriptorProto[] = [];
  while (out.length < files.length) {
    const ready = files.filter((f) => !done.has(f.name) && f.dependency.every((d) => done.has(d)));
    assert.ok(
      ready.length > 0,
      `imports missing: ${files
        .filter((f) => !done.has(f.name))
        .map((f) => `${f.name} → ${f.dependency}`)
        .join("; ")}`,
    );
    for (const f of ready) {
      done.add(f.name);
      out.push(f);
    }
  }
  return out;
}

async function withGateway(fn: (gw: Embedded) => Promise<void>): Promise<void> {
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
    await fn(gw);
  } finally {
    await gw.close();
  }
}

test("buf curl --reflect lists, describes and calls the admin services with no proto files", async () => {
  await withGateway(async (gw) => {
    const services = (await bufCurl("--list-services", gw.adminUrl)).trim().split("\n");
    assert.ok(services.includes("turnout.v1.AdminService"), services.join(", "));
    assert.ok(services.includes("grpc.reflection.v1.ServerReflection"));
    assert.ok(services.includes("grpc.reflection.v1alpha.ServerReflection"));

    const methods = (await bufCurl("--list-methods", gw.adminUrl)).trim().split("\n");
    assert.ok(methods.includes("turnout.v1.AdminService/GetCurrentModel"), methods.join(", "));
    assert.ok(methods.includes("turnout.v1.AdminService/SwitchModel"));
    const alphaMethods = (await bufCurl("--reflect-protocol", "grpc-v1alpha", "--list-methods", gw.adminUrl)).trim().split("\n");
    assert.deepEqual(alphaMethods, methods);

    const current = JSON.parse(
      await bufCurl("-d", JSON.stringify({ route: "qwen3-32b" }), `${gw.adminUrl}/turnout.v1.AdminService/GetCurrentModel`),
    );
    assert.equal(current.variant, "big");
    assert.equal(current.model, "qwen3:32b");
  });
});

test("the proxy's traffic port reflects ChatService, and a streamed Chat call works from reflection alone", async () => {
  await withGateway(async (gw) => {
    const services = (await bufCurl("--list-services", gw.proxyUrl)).trim().split("\n");
    assert.ok(services.includes("turnout.v1.ChatService"), services.join(", "));
    assert.ok(!services.includes("turnout.v1.AdminService"));

    const body = { model: "qwen3-32b", messages: [{ role: "user", content: "hello" }], options: { num_predict: 3 } };
    const out = await bufCurl("-d", JSON.stringify(body), `${gw.proxyUrl}/turnout.v1.ChatService/Chat`);
    assert.match(out, /"content"/);
  });
});

test("v1alpha reflection answers symbols, files with their imports, extensions and unknown names", async () => {
  await withGateway(async (gw) => {
    const sessions = new Http2SessionManager(gw.adminUrl);
    try {
      const client = createClient(
        v1alpha.ServerReflection,
        createGrpcTransport({ baseUrl: gw.adminUrl, sessionManager: sessions }),
      );
      type Req = MessageInitShape<typeof v1alpha.ServerReflectionRequestSchema>["messageRequest"];
      const asks: Req[] = [
        { case: "listServices", value: "*" },
        { case: "fileContainingSymbol", value: "turnout.v1.AdminService.GetCurrentModel" },
        { case: "fileByFilename", value: "turnout/v1/admin.proto" },
        { case: "fileContainingSymbol", value: "turnout.v1.NoSuchThing" },
        { case: "fileContainingExtension", value: { containingType: "turnout.v1.Node", extensionNumber: 100 } },
        { case: "allExtensionNumbersOfType", value: "turnout.v1.Node" },
        { case: "allExtensionNumbersOfType", value: "turnout.v1.NoSuchThing" },
      ];
      async function* requests() {
        for (const messageRequest of asks) yield create(v1alpha.ServerReflectionRequestSchema, { host: "admin", messageRequest });
      }
      const answers = [];
      for await (const res of client.serverReflectionInfo(requests())) answers.push(res);
      assert.equal(answers.length, asks.length);
      assert.equal(answers[0].validHost, "admin");
      assert.equal(answers[0].originalRequest?.messageRequest.case, "listServices");

      const [list, bySymbol, byName, unknown, extension, numbers, unknownType] = answers.map((a) => a.messageResponse);
      assert.equal(list.case, "listServicesResponse");
      assert.ok(list.value.service.some((s) => s.name === "turnout.v1.AdminService"));

      // The file and every import, enough to build a registry that resolves the method.
      assert.equal(bySymbol.case, "fileDescriptorResponse");
      const files = bySymbol.value.fileDescriptorProto.map((b) => fromBinary(FileDescriptorProtoSchema, b));
      assert.equal(files[0].name, "turnout/v1/admin.proto");
      const registry = createFileRegistry(create(FileDescriptorSetSchema, { file: importsFirst(files) }));
      assert.equal(
        registry.getService("turnout.v1.AdminService")?.methods.some((m) => m.name === "GetCurrentModel"),
        true,
      );

      // Same stream: the imports were sent already, the requested file always is.
      assert.equal(byName.case, "fileDescriptorResponse");
      assert.deepEqual(
        byName.value.fileDescriptorProto.map((b) => fromBinary(FileDescriptorProtoSchema, b).name),
        ["turnout/v1/admin.proto"],
      );

      assert.equal(unknown.case, "errorResponse");
      assert.equal(unknown.value.errorCode, NOT_FOUND);
      assert.equal(extension.case, "errorResponse");
      assert.equal(extension.value.errorCode, NOT_FOUND);
      assert.equal(numbers.case, "allExtensionNumbersResponse");
      assert.deepEqual(
        numbers.value,
        create(v1alpha.ExtensionNumberResponseSchema, { baseTypeName: "turnout.v1.Node", extensionNumber: [] }),
      );
      assert.equal(unknownType.case, "errorResponse");
      assert.equal(unknownType.value.errorCode, NOT_FOUND);
    } finally {
      sessions.abort();
    }
  });
});

test("the descriptor index finds messages, nested types, services, methods and fields, across imports", () => {
  const index = createDescriptorIndex([file_turnout_v1_admin, file_turnout_v1_chat]);
  assert.equal(index.fileContainingSymbol("turnout.v1.AdminService")?.proto.name, "turnout/v1/admin.proto");
  assert.equal(index.fileContainingSymbol("turnout.v1.AdminService.SwitchModel")?.proto.name, "turnout/v1/admin.proto");
  assert.equal(index.fileContainingSymbol("turnout.v1.ChatService.Chat")?.proto.name, "turnout/v1/chat.proto");
  assert.equal(index.fileContainingSymbol("turnout.v1.AdminService.NoSuchMethod"), undefined);
  assert.equal(index.fileByName("turnout/v1/routing.proto")?.proto.name, "turnout/v1/routing.proto");
  assert.equal(index.fileContainingSymbol("turnout.v1.Node.base_url")?.proto.name, "turnout/v1/routing.proto");
  assert.equal(index.fileContainingSymbol("google.protobuf.Timestamp")?.proto.name, "google/protobuf/timestamp.proto");
  assert.equal(index.fileByName("nope.proto"), undefined);
});
