import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { ChatService, type ChatDone } from "../../gen/turnout/v1/chat_pb.js";
import { BadRequestSchema } from "../../gen/turnout/v1/error_details_pb.js";
import { startProxyFixture, type ProxyFixture } from "./proxy-harness.ts";

describe("Connect ChatService.Chat on the traffic port", () => {
  let f: ProxyFixture;

  before(async () => {
    f = await startProxyFixture({
      sims: [{ models: ["qwen3:32b"], outputTokens: 6 }],
      snapshot: (urls) => ({
        version: 1,
        nodes: [{ id: "n1", url: urls[0] }],
        routes: [{ name: "qwen3-32b", variants: [{ name: "stable", model: "qwen3:32b" }] }],
      }),
    });
  });
  after(() => f.close());

  const transports = {
    "Connect over HTTP/2 (h2c)": () => createConnectTransport({ baseUrl: f.proxy.url, httpVersion: "2" }),
    "Connect over HTTP/1.1": () => createConnectTransport({ baseUrl: f.proxy.url, httpVersion: "1.1" }),
    "gRPC over HTTP/2": () => createGrpcTransport({ baseUrl: f.proxy.url }),
  };

  for (const [name, transport] of Object.entries(transports)) {
    it(`streams deltas then one ChatDone (${name})`, async () => {
      const client = createClient(ChatService, transport());
      let text = "";
      let done: ChatDone | undefined;
      let headers: Headers | undefined;
      for await (const res of client.chat(
        { model: "qwen3-32b", messages: [{ role: "user", content: "hi" }], user: "alice" },
        { onHeader: (h) => (headers = h) },
      )) {
        assert.equal(done, undefined, "nothing after ChatDone");
        if (res.event.case === "delta") text += res.event.value.content;
        if (res.event.case === "done") done = res.event.value;
      }
      assert.ok(text.length > 0);
      assert.ok(done);
      assert.equal(done.model, "qwen3-32b");
      assert.equal(done.variant, "stable");
      assert.equal(done.snapshotVersion, 1n);
      assert.equal(done.completionTokens, 6);
      assert.ok(done.timeToFirstTokenMs >= 0);
      assert.equal(headers?.get("x-turnout-variant"), "stable");
      assert.equal(headers?.get("x-request-id"), done.requestId);
    });
  }

  it("answers an unknown model with NotFound", async () => {
    const client = createClient(ChatService, createConnectTransport({ baseUrl: f.proxy.url, httpVersion: "2" }));
    await assert.rejects(
      async () => {
        for await (const res of client.chat({ model: "nope", messages: [{ role: "user", content: "hi" }] })) void res;
      },
      (err) => ConnectError.from(err).code === Code.NotFound,
    );
  });

  it("answers a request without a model with InvalidArgument whose BadRequest detail names the field", async () => {
    const client = createClient(ChatService, createConnectTransport({ baseUrl: f.proxy.url, httpVersion: "2" }));
    await assert.rejects(
      async () => {
        for await (const res of client.chat({ model: "", messages: [{ role: "user", content: "hi" }] })) void res;
      },
      (err) => {
        const e = ConnectError.from(err);
        assert.equal(e.code, Code.InvalidArgument);
        const [detail] = e.findDetails(BadRequestSchema);
        assert.deepEqual(
          detail?.fieldViolations.map((v) => [v.field, v.description]),
          [["model", "is required"]],
        );
        return true;
      },
    );
  });

  it("ends with Unavailable after the deltas when the upstream fails mid-stream", async () => {
    const client = createClient(ChatService, createConnectTransport({ baseUrl: f.proxy.url, httpVersion: "2" }));
    f.sims[0].setFaults({ midStreamFailureRate: 1 });
    try {
      let deltas = 0;
      await assert.rejects(
        async () => {
          for await (const res of client.chat({ model: "qwen3-32b", messages: [{ role: "user", content: "hi" }] })) {
            assert.equal(res.event.case, "delta");
            deltas++;
          }
        },
        (err) => ConnectError.from(err).code === Code.Unavailable,
      );
      assert.ok(deltas > 0);
    } finally {
      f.sims[0].setFaults({ midStreamFailureRate: 0 });
    }
  });

  it("aborts the upstream request when an HTTP/2 caller cancels mid-stream", async () => {
    const client = createClient(ChatService, createConnectTransport({ baseUrl: f.proxy.url, httpVersion: "2" }));
    f.sims[0].setFaults({ tokensPerSecond: 20 });
    try {
      const controller = new AbortController();
      const ended = f.sims[0].waitFor("request-end");
      await assert.rejects(async () => {
        for await (const res of client.chat(
          { model: "qwen3-32b", messages: [{ role: "user", content: "hi" }], options: { num_predict: 200 } },
          { signal: controller.signal },
        )) {
          if (res.event.case === "delta") controller.abort();
        }
      });
      await ended;
      assert.equal(f.sims[0].stats().inFlight, 0);
      assert.ok(f.sims[0].stats().aborted >= 1);
    } finally {
      f.sims[0].setFaults({ tokensPerSecond: 0 });
    }
  });

  it("still serves the HTTP dialects next to Connect", async () => {
    const res = await fetch(`${f.proxy.url}/api/version`);
    assert.equal(res.status, 200);
    assert.ok(((await res.json()) as { version: string }).version);
  });
});
