/**
 * An in-process ExchangeSink: the exchange writes an answer into it and an async consumer reads
 * the status, then the body chunks. Backpressure: `write` answers false once more than
 * `highWaterMark` bytes wait, and "drain" fires when the consumer has taken them.
 */
import type { OutgoingHttpHeaders } from "node:http";
import type { ExchangeSink } from "../upstream/exchange.ts";

/** The head of an answer. */
export interface SinkHead {
  status: number;
  headers: OutgoingHttpHeaders;
}

/** Queue of answer bytes between an exchange and one async consumer. */
export class QueueSink implements ExchangeSink {
  private readonly highWaterMark: number;
  private chunks: Buffer[] = [];
  private queued = 0;
  private ended = false;
  private wake: (() => void) | null = null;
  private drainListener: (() => void) | null = null;
  private headResolve!: (head: SinkHead) => void;
  /** Resolves with the status and headers once the exchange writes them. */
  readonly head: Promise<SinkHead>;

  /** @param highWaterMark bytes queued before `write` asks for a pause. Default 64 KiB. */
  constructor(highWaterMark = 64 * 1024) {
    this.highWaterMark = highWaterMark;
    this.head = new Promise((resolve) => (this.headResolve = resolve));
  }

  writeHead(status: number, headers: OutgoingHttpHeaders): void {
    this.headResolve({ status, headers });
  }

  write(chunk: Buffer): boolean {
    this.chunks.push(chunk);
    this.queued += chunk.length;
    this.notify();
    return this.queued < this.highWaterMark;
  }

  end(chunk?: Buffer): void {
    if (chunk !== undefined && chunk.length > 0) this.write(chunk);
    this.ended = true;
    this.notify();
  }

  once(_event: "drain", listener: () => void): void {
    this.drainListener = listener;
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }

  /** Yields body chunks until the answer ends. */
  async *body(): AsyncGenerator<Buffer> {
    for (;;) {
      if (this.chunks.length > 0) {
        const batch = this.chunks;
        this.chunks = [];
        this.queued = 0;
        const drain = this.drainListener;
        this.drainListener = null;
        if (drain !== null) drain.call(this);
        for (const chunk of batch) yield chunk;
        continue;
      }
      if (this.ended) return;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }
}
