import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { AnswerRelay, AnswerTally, rewriteWholeAnswer } from "../../src/proxy/upstream/answer-relay.ts";

const pattern = Buffer.from('"model":"qwen3:32b"');
const replacement = Buffer.from('"model":"qwen3-32b"');

function relayAll(relay: AnswerRelay, chunks: string[]): string {
  let out = "";
  for (const c of chunks) out += relay.push(Buffer.from(c)).toString();
  return out + relay.flush().toString();
}

describe("answer relay", () => {
  it("rewrites the model in NDJSON lines split anywhere across chunks and reads the final counts", () => {
    const stream =
      '{"model":"qwen3:32b","message":{"content":"a"},"done":false}\n' +
      '{"model":"qwen3:32b","message":{"content":""},"done":true,"prompt_eval_count":4,"eval_count":7,"eval_duration":1000}\n';
    for (let cut = 1; cut < stream.length; cut += 7) {
      const relay = new AnswerRelay(false, pattern, replacement, null, false);
      const out = relayAll(relay, [stream.slice(0, cut), stream.slice(cut)]);
      assert.equal(out, stream.replaceAll("qwen3:32b", "qwen3-32b"));
      assert.equal(relay.complete, true);
      assert.deepEqual([relay.promptTokens, relay.completionTokens, relay.evalDurationNs], [4, 7, 1000]);
    }
  });

  it("holds back only an incomplete last line", () => {
    const relay = new AnswerRelay(false, pattern, replacement, null, false);
    assert.equal(relay.push(Buffer.from('{"done":false}\n{"do')).toString(), '{"done":false}\n');
    assert.equal(relay.push(Buffer.from('ne":false}\n')).toString(), '{"done":false}\n');
  });

  it("notes an upstream error line and does not take it as the end", () => {
    const relay = new AnswerRelay(false, pattern, replacement, null, false);
    relay.push(Buffer.from('{"model":"qwen3:32b","done":false}\n{"error":"boom \\"x\\""}\n'));
    assert.equal(relay.error, 'boom "x"');
    assert.equal(relay.complete, false);
  });

  it("frames a bare /v1 error line as an SSE data frame", () => {
    const relay = new AnswerRelay(true, pattern, replacement, null, false);
    const out = relay.push(Buffer.from('{"error":{"message":"oops","type":"api_error","param":null,"code":null}}\n')).toString();
    assert.equal(out, 'data: {"error":{"message":"oops","type":"api_error","param":null,"code":null}}\n\n');
    assert.equal(relay.error, "oops");
  });

  it("mints the id, drops the usage frame it asked for and sees [DONE]", () => {
    const relay = new AnswerRelay(true, pattern, replacement, Buffer.from('"id":"chatcmpl-mine"'), true);
    const out = relayAll(relay, [
      'data: {"id":"chatcmpl-7","model":"qwen3:32b","choices":[{"delta":{"content":"a"}}]}\n\n',
      'data: {"id":"chatcmpl-7","model":"qwen3:32b","choices":[],"usage":{"prompt_tokens":2,"completion_tokens":5,"total_tokens":7}}\n\n',
      "data: [DONE]\n\n",
    ]);
    assert.equal(
      out,
      'data: {"id":"chatcmpl-mine","model":"qwen3-32b","choices":[{"delta":{"content":"a"}}]}\n\ndata: [DONE]\n\n',
    );
    assert.deepEqual([relay.promptTokens, relay.completionTokens, relay.complete], [2, 5, true]);
  });

  it("reads a whole answer's top-level counts, not a same-named key in tool-call arguments", () => {
    const native = Buffer.from(
      '{"model":"qwen3:32b","message":{"role":"assistant","content":"","tool_calls":[{"function":{"name":"f","arguments":{"eval_count":99,"prompt_eval_count":98}}}]},' +
        '"done":true,"prompt_eval_count":4,"prompt_eval_duration":10,"eval_count":8,"eval_duration":2000}',
    );
    const tally = new AnswerTally();
    const out = rewriteWholeAnswer(native, true, pattern, replacement, null, tally);
    assert.deepEqual([tally.promptTokens, tally.completionTokens, tally.evalDurationNs, tally.complete], [4, 8, 2000, true]);
    assert.equal(out.toString(), native.toString().replace('"model":"qwen3:32b"', '"model":"qwen3-32b"'));

    const openAi = Buffer.from(
      '{"id":"chatcmpl-1","model":"qwen3:32b","choices":[{"message":{"tool_calls":[{"function":{"arguments":"{}"}}],"usage":{"prompt_tokens":77}}}],' +
        '"usage":{"prompt_tokens":3,"completion_tokens":5,"total_tokens":8}}',
    );
    const v1 = new AnswerTally();
    rewriteWholeAnswer(openAi, false, pattern, replacement, null, v1);
    assert.deepEqual([v1.promptTokens, v1.completionTokens], [3, 5]);
  });
});
