/**
 * The chaos suite's outcome count: every OutcomeBatch in the JetStream outcome stream, read
 * message by message from the first to the last sequence, decoded, and counted by request id.
 * Against the requests the clients saw complete: an id with no outcome is lost, one with more
 * than one is duplicated.
 */
import { fromBinary } from "@bufbuild/protobuf";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { OutcomeBatchSchema } from "../gen/turnout/v1/events_pb.js";

/** Outcomes in the stream, by request id. */
export interface OutcomeCounts {
  /** Messages (batches) read. */
  batches: number;
  /** Outcome records read. */
  outcomes: number;
  /** Records per request id. */
  byRequest: Map<string, number>;
}

/** Reads the whole stream `stream` (default TURNOUT_OUTCOMES) on the server at `url`. */
export async function countOutcomes(url: string, stream = "TURNOUT_OUTCOMES"): Promise<OutcomeCounts> {
  const nc = await connect({ servers: url, name: "turnout-chaos-audit" });
  try {
    const jsm = await jetstreamManager(nc);
    const info = await jsm.streams.info(stream);
    const byRequest = new Map<string, number>();
    let batches = 0;
    let outcomes = 0;
    for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
      const msg = await jsm.streams.getMessage(stream, { seq }).catch(() => null);
      if (msg === null) continue;
      batches++;
      for (const o of fromBinary(OutcomeBatchSchema, msg.data).outcomes) {
        outcomes++;
        byRequest.set(o.requestId, (byRequest.get(o.requestId) ?? 0) + 1);
      }
    }
    return { batches, outcomes, byRequest };
  } finally {
    await nc.close();
  }
}
