/**
 * The control plane's count-once rule for feedback read from the outcome log: an entry whose
 * replay key (`Feedback.replay_key`, the same for a ref and metric on every proxy) was counted
 * already is a duplicate and is not counted again. Proxies refuse replays (409), but two proxies
 * can each accept one before the other's key reaches them, and a proxy restarted knows only the
 * keys shared since; this rule makes the count exact anyway.
 *
 * Bounded like the proxies' windows (feedback-replay-window.ts): at most `capacity` keys, the
 * oldest let go first. An entry whose ref is older than every key held (at or below the window's
 * floor) cannot be told from a duplicate and is counted: the proxies refused replays that old.
 * The log is read in order, and a restarted control plane replays it from the same start, so
 * every run makes the same decisions. Entries without a key (written by older proxies) are counted.
 */
import { timestampMs } from "@bufbuild/protobuf/wkt";
import type { Feedback } from "../../../gen/turnout/v1/events_pb.js";
import { FeedbackReplayWindow, ReplayCheck } from "../../assign/feedback-replay-window.ts";

/** The rule, with its count of duplicates. */
export interface FeedbackDedupe {
  /** Whether `f` is to be counted: true the first time its key is seen. */
  first(f: Feedback): boolean;
  /** Entries not counted because their key was counted before. */
  duplicatesTotal(): number;
}

/** A dedupe of at most `capacity` keys (about 24 bytes each; default 1,000,000). */
export function createFeedbackDedupe(capacity?: number): FeedbackDedupe {
  const window = new FeedbackReplayWindow(capacity);
  let duplicates = 0;
  return {
    first(f) {
      if (f.replayKey === 0n) return true;
      const key = Number(f.replayKey);
      const at = f.refIssuedAt ?? f.receivedAt;
      const issuedAtMs = at === undefined ? 0 : timestampMs(at);
      const known = window.check(key, issuedAtMs);
      if (known === ReplayCheck.Seen) {
        duplicates++;
        return false;
      }
      if (known === ReplayCheck.New) window.add(key, issuedAtMs);
      return true;
    },
    duplicatesTotal: () => duplicates,
  };
}
