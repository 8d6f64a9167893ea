/**
 * What an exchange is given: where its answer goes (the sink) and everything it needs to forward
 * one request (the pinned table, route, assignment, dialect, upstream path and body), and the
 * client key's counters to settle when it ends.
 */
import type { OutgoingHttpHeaders } from "node:http";
import type { Logger } from "../../log.ts";
import type { KeyUse } from "../auth/key-limiter.ts";
import type { Dialect } from "../dialects/dialect.ts";
import type { OutcomeListener } from "../outcome.ts";
import type { SeriesInFlight } from "../report/series-in-flight.ts";
import type { Assignment } from "../routing/assignment.ts";
import type { CompiledRoute } from "../snapshot/compiled-route.ts";
import type { RoutingTable } from "../snapshot/routing-table.ts";

/** Where an answer goes: a node ServerResponse (HTTP/1.1 or HTTP/2 compat) or an in-process sink. */
export interface ExchangeSink {
  writeHead(status: number, headers: OutgoingHttpHeaders): unknown;
  write(chunk: Buffer): boolean;
  end(chunk?: Buffer): unknown;
  once(event: "drain", listener: () => void): unknown;
}

/** What an exchange needs to start. */
export interface ExchangeInit {
  /** Pinned table (already acquired; the exchange releases it). */
  table: RoutingTable;
  route: CompiledRoute;
  assignment: Assignment;
  requestId: string;
  dialect: Dialect;
  sink: ExchangeSink;
  method: "GET" | "POST";
  /** Upstream path (without the node's prefix). */
  path: string;
  /** Upstream request body. */
  body: Buffer | null;
  /** `performance.now()` when the request arrived. */
  startedAt: number;
  /** For /v1: `"id":"<minted id>"` bytes to put in place of Ollama's id; null otherwise. */
  mintedId: Buffer | null;
  /** For /v1 streams: drop the usage frame the proxy asked for. */
  dropUsage: boolean;
  onOutcome: OutcomeListener | undefined;
  /** Per-series in-flight counts: this exchange counts on its route and variant until it finishes. Default: none. */
  seriesInFlight?: SeriesInFlight;
  /** Logs upstream failures (never bodies). */
  logger: Logger;
  /** The client key's counters (a key with limits): finished with the request's tokens when it ends. Default: none. */
  keyUse?: KeyUse | null;
  /** Headers every answer carries besides the identity ones (a limited key's x-ratelimit-*). Default: none. */
  extraHeaders?: OutgoingHttpHeaders | null;
}
