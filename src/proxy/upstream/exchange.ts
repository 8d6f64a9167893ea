/**
 * One proxied request on the hot path: pick a node, dispatch on its undici pool, relay the answer
 * to the sink as it arrives, retry once on another node of the same variant when the connection
 * is refused or reset or the node answers 503 before the first byte, end every stream properly
 * (an in-band error when the upstream fails mid-answer or the total timeout passes), tell the
 * node's health how the request went (passive outlier ejection), release the pinned table, settle
 * the client key's counters and record the outcome. When every node of the variant is full the
 * request waits in the variant's bounded slot queue. The exchange is its own undici dispatch handler (and its own queue entry):
 * no per-chunk closures or allocations beyond the rewritten bytes.
 */
import type { OutgoingHttpHeaders } from "node:http";
import type { Dispatcher } from "undici";
import { JSON_TYPE } from "../dialects/dialect.ts";
import { OutcomeStatus } from "../outcome.ts";
import type { InFlightCounter } from "../report/series-in-flight.ts";
import type { CompiledNode } from "../snapshot/compiled-route.ts";
import { AnswerRelay, AnswerTally, rewriteWholeAnswer } from "./answer-relay.ts";
import type { ExchangeInit, ExchangeSink } from "./exchange-init.ts";
import { emitOutcome } from "./exchange-outcome.ts";
import { COOL_DOWN_MS } from "./node-upstream.ts";
import { NoNode, pickNode } from "./pick-node.ts";
import type { SlotWaiter } from "./slot-queue.ts";
import {
  BUSY,
  CUT_SHORT,
  RETRYABLE,
  TOTAL_TIMEOUT,
  beforeAnswerFailure,
  isConnectionFailure,
  midAnswerError,
  refusedOutcome,
} from "./upstream-failure.ts";

export type { ExchangeInit, ExchangeSink } from "./exchange-init.ts";

const JSON_TYPE_UPSTREAM = "application/json";
const UPSTREAM_HEADERS = { "content-type": JSON_TYPE_UPSTREAM };
const kExchange = Symbol("exchange");

/** The exchange writing to `sink`, if any. */
export function exchangeOf(sink: ExchangeSink): Exchange | undefined {
  return (sink as unknown as { [kExchange]?: Exchange })[kExchange];
}

function onSinkDrain(this: { [kExchange]?: Exchange }): void {
  this[kExchange]?.resume();
}

function onTotalTimeout(exchange: Exchange): void {
  exchange.timeoutTotal();
}

/** A request in flight. Create, then `start()`; call `abort()` when the client leaves. */
export class Exchange implements Dispatcher.DispatchHandler, SlotWaiter {
  readonly init: ExchangeInit;
  node: CompiledNode | null = null;
  /** When it entered the slot queue (SlotWaiter). */
  queuedAt = 0;
  private queued = false;
  private timedOut = false;
  private totalTimer: NodeJS.Timeout | null = null;
  /** `performance.now()` when the current attempt was dispatched. */
  private attemptAt = 0;
  private attempt = 0;
  private controller: Dispatcher.DispatchController | null = null;
  private retryTo: CompiledNode | null = null;
  /** 0 before headers, 1 streaming, 2 collecting a whole body. */
  private mode = 0;
  private status = 0;
  private parts: Buffer[] | null = null;
  private relay: AnswerRelay | null = null;
  private firstByteAt = -1;
  private contentType = JSON_TYPE;
  private gone = false;
  private finished = false;
  private inFlight = false;
  /** The node's fleet-wide in-flight count at the last dispatch (this one included). */
  private depth = 0;
  private readonly series: InFlightCounter | null;

  constructor(init: ExchangeInit) {
    this.init = init;
    this.series = init.seriesInFlight?.enter(init.route.name, init.assignment.variant.name) ?? null;
    (init.sink as unknown as { [kExchange]?: Exchange })[kExchange] = this;
  }

  /** Picks a node and dispatches (or waits in the slot queue when every node is full). */
  start(): void {
    const totalMs = this.init.table.settings.resilience.totalTimeoutMs;
    if (totalMs > 0)
      this.totalTimer = setTimeout(onTotalTimeout, Math.max(1, this.init.startedAt + totalMs - performance.now()), this);
    const variant = this.init.assignment.variant;
    const picked = pickNode(variant.nodes, variant.model);
    if (picked === NoNode.Full) {
      if (variant.queue.push(this)) {
        this.queued = true;
        return;
      }
      return this.failBeforeAnswer(503, BUSY, true);
    }
    if (picked === NoNode.None) return this.failBeforeAnswer(503, `no node serves model '${variant.model}'`);
    this.dispatchTo(picked);
  }

  /** SlotWaiter: a slot may have freed; dispatches when a node has room. */
  tryStart(): boolean {
    const variant = this.init.assignment.variant;
    const picked = pickNode(variant.nodes, variant.model);
    if (typeof picked === "number") return false;
    this.queued = false;
    this.dispatchTo(picked);
    return true;
  }

  /** SlotWaiter: waited the longest allowed without a slot. */
  expire(): void {
    this.queued = false;
    this.failBeforeAnswer(503, BUSY, true);
  }

  /** The total timeout passed: end the answer (504 before it started, in-band error after). */
  timeoutTotal(): void {
    this.totalTimer = null;
    if (this.finished) return;
    if (this.queued) {
      this.queued = false;
      this.init.assignment.variant.queue.remove(this);
      return this.failBeforeAnswer(504, TOTAL_TIMEOUT);
    }
    this.timedOut = true;
    // Before onRequestStart the controller is not there yet: onRequestStart aborts.
    if (this.controller !== null) this.controller.abort(new Error(TOTAL_TIMEOUT));
  }

  private dispatchTo(node: CompiledNode): void {
    this.node = node;
    const upstream = node.upstream;
    upstream.inFlight++;
    this.inFlight = true;
    this.depth = upstream.inFlight + upstream.fleetInFlight;
    this.attemptAt = performance.now();
    const init = this.init;
    const headers = init.requestId ? { "content-type": JSON_TYPE_UPSTREAM, "x-request-id": init.requestId } : UPSTREAM_HEADERS;
    try {
      node.upstream.pool.dispatch(
        { path: node.upstream.prefix + init.path, method: init.method, headers, body: init.body },
        this,
      );
    } catch (err) {
      this.onResponseError(null, err as Error);
    }
  }

  /** The client went away: abort the upstream request. */
  abort(): void {
    if (this.finished || this.gone) return;
    this.gone = true;
    if (this.queued) {
      this.queued = false;
      this.init.assignment.variant.queue.remove(this);
      return this.finish(OutcomeStatus.ClientGone, null);
    }
    if (this.controller !== null) this.controller.abort(new Error("client disconnected"));
  }

  /** Resumes the upstream after the sink drained. */
  resume(): void {
    if (this.controller !== null && !this.finished) this.controller.resume();
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.gone) controller.abort(new Error("client disconnected"));
    else if (this.timedOut) controller.abort(new Error(TOTAL_TIMEOUT));
  }

  onResponseStart(
    _c: Dispatcher.DispatchController,
    status: number,
    headers: Record<string, string | string[] | undefined>,
  ): void {
    if (status >= 500) this.upstreamError(status);
    if (status === 503 && this.attempt === 0) {
      const variant = this.init.assignment.variant;
      const other = pickNode(variant.nodes, variant.model, this.node ?? undefined);
      if (typeof other !== "number") {
        this.retryTo = other;
        return;
      }
    }
    this.status = status;
    const type = headers["content-type"];
    const contentType = typeof type === "string" ? type : JSON_TYPE;
    this.contentType = contentType;
    const init = this.init;
    const streaming = status < 300 && (contentType.includes("ndjson") || contentType.includes("event-stream"));
    if (!streaming) {
      this.mode = 2;
      this.parts = [];
      return;
    }
    this.mode = 1;
    const variant = init.assignment.variant;
    const replacement = init.route.modelReplacement.equals(variant.modelPattern) ? null : init.route.modelReplacement;
    this.relay = new AnswerRelay(
      contentType.includes("event-stream"),
      variant.modelPattern,
      replacement,
      init.mintedId,
      init.dropUsage,
    );
    init.sink.writeHead(status, this.answerHeaders(contentType));
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.retryTo !== null) return;
    if (this.firstByteAt < 0) this.firstByteAt = performance.now();
    if (this.mode === 1) {
      const out = (this.relay as AnswerRelay).push(chunk);
      if (out.length > 0 && !this.init.sink.write(out)) {
        controller.pause();
        this.init.sink.once("drain", onSinkDrain);
      }
    } else {
      (this.parts as Buffer[]).push(chunk);
    }
  }

  onResponseEnd(): void {
    if (this.retryTo !== null) return this.retry(this.retryTo);
    const sink = this.init.sink;
    if (this.mode === 1) {
      const relay = this.relay as AnswerRelay;
      const rest = relay.flush();
      if (rest.length > 0) sink.write(rest);
      if (!relay.complete && relay.error === "") {
        relay.error = CUT_SHORT;
        sink.write(this.init.dialect.streamError(relay.error));
      }
      sink.end();
      const health = (this.node as CompiledNode).upstream.health;
      if (relay.error === "") health.onSuccess();
      // A stream cut short without an error line: the node went away (connection-level).
      else if (relay.error === CUT_SHORT) health.onFailure("stream cut short", true);
      else health.onFailure("in-band error", false);
      return this.finish(relay.error === "" ? OutcomeStatus.Ok : OutcomeStatus.UpstreamFailed, relay);
    }
    const init = this.init;
    const tally = new AnswerTally();
    const parts = this.parts as Buffer[];
    let body = parts.length === 1 ? parts[0] : Buffer.concat(parts);
    if (this.status < 300) {
      const variant = init.assignment.variant;
      const replacement = init.route.modelReplacement.equals(variant.modelPattern) ? null : init.route.modelReplacement;
      body = rewriteWholeAnswer(body, init.dialect.kind === "native", variant.modelPattern, replacement, init.mintedId, tally);
    }
    const headers = this.answerHeaders(this.contentType);
    headers["content-length"] = body.length;
    if (this.status === 503) headers["retry-after"] = "1";
    sink.writeHead(this.status, headers);
    sink.end(body);
    if (this.status < 500) (this.node as CompiledNode).upstream.health.onSuccess();
    this.finish(this.status < 300 ? OutcomeStatus.Ok : OutcomeStatus.UpstreamStatus, tally);
  }

  onResponseError(_c: Dispatcher.DispatchController | null, err: Error): void {
    if (this.finished) return;
    if (this.retryTo !== null) return this.retry(this.retryTo);
    if (this.gone) return this.finish(OutcomeStatus.ClientGone, null);
    if (this.timedOut) return this.endTimedOut();
    const code = (err as { code?: string }).code ?? "";
    if (this.node !== null) {
      if (this.mode === 0 && RETRYABLE.has(code)) this.node.upstream.coolUntil = performance.now() + COOL_DOWN_MS;
      this.node.upstream.health.onFailure(code || err.message, isConnectionFailure(code));
    }
    if (this.mode === 0 && this.attempt === 0 && RETRYABLE.has(code)) {
      const variant = this.init.assignment.variant;
      const other = pickNode(variant.nodes, variant.model, this.node ?? undefined);
      if (typeof other !== "number") return this.retry(other);
    }
    this.init.logger.warn(
      { requestId: this.init.requestId, node: this.node?.id, route: this.init.route.name, code, err: err.message },
      "upstream request failed",
    );
    if (this.mode === 1) {
      const relay = this.relay as AnswerRelay;
      relay.error = midAnswerError(code, err.message);
      const sink = this.init.sink;
      // An incomplete last line is dropped: the error line must start a line of its own.
      relay.flush();
      sink.write(this.init.dialect.streamError(relay.error));
      sink.end();
      return this.finish(OutcomeStatus.UpstreamFailed, relay);
    }
    const failure = beforeAnswerFailure(code, err.message);
    this.failBeforeAnswer(failure.status, failure.message);
  }

  /** A 5xx before the answer: a failure for ejection, except a 503 that took its time (a busy node). */
  private upstreamError(status: number): void {
    const u = (this.node as CompiledNode).upstream;
    if (status !== 503) return u.health.onFailure(`answered ${status}`, false);
    const now = performance.now();
    u.coolUntil = now + COOL_DOWN_MS;
    const ms = now - this.attemptAt;
    if (ms <= this.init.table.settings.resilience.outlier.fast503Ms) u.health.onFailure(`503 within ${ms.toFixed(1)} ms`, false);
  }

  /** Ends an exchange whose total timeout passed (the upstream request is aborted). */
  private endTimedOut(): void {
    this.init.logger.warn(
      { requestId: this.init.requestId, node: this.node?.id, route: this.init.route.name },
      "request exceeded the total timeout",
    );
    if (this.mode === 1) {
      const relay = this.relay as AnswerRelay;
      relay.error = TOTAL_TIMEOUT;
      relay.flush();
      this.init.sink.write(this.init.dialect.streamError(TOTAL_TIMEOUT));
      this.init.sink.end();
      return this.finish(OutcomeStatus.UpstreamFailed, relay);
    }
    this.failBeforeAnswer(504, TOTAL_TIMEOUT);
  }

  private retry(node: CompiledNode): void {
    this.releaseNode();
    this.retryTo = null;
    this.attempt++;
    this.mode = 0;
    this.controller = null;
    if (this.gone) return this.finish(OutcomeStatus.ClientGone, null);
    // The target was picked with the failed node excluded; it may have filled up meanwhile.
    if (node.maxConcurrent !== 0 && node.upstream.inFlight >= node.maxConcurrent) return this.failBeforeAnswer(503, BUSY, true);
    this.dispatchTo(node);
  }

  private answerHeaders(contentType: string): OutgoingHttpHeaders {
    const init = this.init;
    const headers: OutgoingHttpHeaders = {
      "content-type": contentType,
      "x-turnout-variant": init.assignment.variant.name,
      "x-turnout-snapshot": init.table.versionHeader,
      "x-request-id": init.requestId,
    };
    if (init.assignment.experiment !== undefined) headers["x-turnout-ref"] = init.assignment.experiment.ref;
    const extra = init.extraHeaders;
    if (extra != null) for (const name in extra) headers[name] = extra[name];
    return headers;
  }

  private failBeforeAnswer(status: number, message: string, busy = false): void {
    const body = Buffer.from(this.init.dialect.errorBody(status, message));
    const headers = { ...this.answerHeaders(JSON_TYPE), "content-length": body.length } as OutgoingHttpHeaders;
    if (busy) headers["retry-after"] = "1";
    this.status = status;
    if (!this.gone) {
      this.init.sink.writeHead(status, headers);
      this.init.sink.end(body);
    }
    this.finish(refusedOutcome(status, this.gone), null);
  }

  private releaseNode(): void {
    if (this.inFlight && this.node !== null) {
      this.inFlight = false;
      this.node.upstream.slotFreed();
    }
  }

  private finish(status: OutcomeStatus, tally: AnswerTally | null): void {
    if (this.finished) return;
    this.finished = true;
    if (this.totalTimer !== null) {
      clearTimeout(this.totalTimer);
      this.totalTimer = null;
    }
    if (this.series !== null) this.series.count--;
    const node = this.node;
    if (status === OutcomeStatus.Ok && !this.gone && this.inFlight && node !== null)
      node.upstream.observe((performance.now() - this.attemptAt) / 1000, this.depth);
    this.releaseNode();
    const init = this.init;
    init.table.release();
    if (init.keyUse != null) init.keyUse.finish(tally === null ? 0 : tally.promptTokens + tally.completionTokens);
    if (init.onOutcome !== undefined)
      emitOutcome(
        init.onOutcome,
        init,
        node,
        this.gone ? OutcomeStatus.ClientGone : status,
        this.status,
        this.firstByteAt,
        tally,
      );
  }
}
