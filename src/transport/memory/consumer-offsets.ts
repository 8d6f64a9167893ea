/**
 * Durable consumer positions of the file outcome log: per consumer an ack floor (every seq at or
 * below it is acked) plus the acked seqs above the floor (acks may arrive out of order). Stored
 * as `<dir>/<name>.json` (`{"floor": n, "above": [..]}`), written atomically (temp file, fsync,
 * rename) after acks, coalesced so a burst of acks costs one write.
 */
import * as fs from "node:fs";
import * as fsp from "node:fs/promises";
import * as path from "node:path";
import { ErrorCode, TurnoutError } from "../../errors.ts";
import { PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from "../../private-files.ts";

/** Consumer names: also valid JetStream durable names, so both transports accept the same ones. */
const NAME = /^[A-Za-z0-9_-]{1,64}$/;

/** Throws `invalid_argument` unless `name` is a valid consumer name. */
export function checkConsumerName(name: string): void {
  if (!NAME.test(name)) {
    throw new TurnoutError(ErrorCode.InvalidArgument, `consumer name "${name}" must be 1-64 of A-Z a-z 0-9 _ -`);
  }
}

/** One consumer's acks. */
export interface ConsumerOffsets {
  readonly name: string;
  /** Every seq ≤ floor is acked. */
  floor(): number;
  /** True when `seq` is acked. */
  isAcked(seq: number): boolean;
  /** The highest acked seq (the floor when nothing above it is acked). */
  lastAcked(): number;
  /** Marks `seq` acked and schedules a write. */
  ack(seq: number): void;
  /** Moves the floor up to `seq` (records below the log's first retained seq are gone). */
  skipTo(seq: number): void;
  /** Resolves when every ack so far is on disk. */
  flush(): Promise<void>;
  /** Writes the file now (a new consumer becomes known to retention). */
  save(): Promise<void>;
}

interface Stored {
  floor: number;
  above: number[];
}

/** Loads every consumer file in `dir` (created when missing), removing temp files. */
export function loadConsumerOffsets(dir: string, fsync: boolean, onWritten: () => void): Map<string, ConsumerOffsets> {
  fs.mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  const out = new Map<string, ConsumerOffsets>();
  for (const file of fs.readdirSync(dir)) {
    if (file.includes(".tmp")) {
      fs.rmSync(path.join(dir, file), { force: true });
      continue;
    }
    if (!file.endsWith(".json")) continue;
    const name = file.slice(0, -5);
    const stored = JSON.parse(fs.readFileSync(path.join(dir, file), "utf8")) as Stored;
    out.set(name, consumerOffsets(dir, name, stored, fsync, onWritten));
  }
  return out;
}

/** Creates the offsets of consumer `name` (floor 0 when new); `onWritten` runs after each write. */
export function consumerOffsets(
  dir: string,
  name: string,
  stored: Stored,
  fsync: boolean,
  onWritten: () => void,
): ConsumerOffsets {
  let floor = stored.floor;
  const above = new Set(stored.above.filter((s) => s > floor));
  let dirty = false;
  let writing: Promise<void> | undefined;
  const file = path.join(dir, `${name}.json`);

  function advance(): void {
    while (above.delete(floor + 1)) floor++;
  }

  async function writeOnce(): Promise<void> {
    const tmp = `${file}.tmp`;
    const handle = await fsp.open(tmp, "w", PRIVATE_FILE_MODE);
    try {
      await handle.writeFile(JSON.stringify({ floor, above: [...above] } satisfies Stored));
      if (fsync) await handle.sync();
    } finally {
      await handle.close();
    }
    await fsp.rename(tmp, file);
  }

  function schedule(): void {
    dirty = true;
    if (writing !== undefined) return;
    writing = (async () => {
      try {
        while (dirty) {
          dirty = false;
          await writeOnce();
        }
      } finally {
        writing = undefined;
      }
      onWritten();
    })();
    writing.catch(() => undefined); // surfaced by flush()
  }

  advance();
  return {
    name,
    floor: () => floor,
    isAcked: (seq) => seq <= floor || above.has(seq),
    lastAcked() {
      let last = floor;
      for (const s of above) if (s > last) last = s;
      return last;
    },
    ack(seq) {
      if (seq <= floor || above.has(seq)) return;
      above.add(seq);
      advance();
      schedule();
    },
    skipTo(seq) {
      if (seq <= floor) return;
      floor = seq;
      for (const s of above) if (s <= floor) above.delete(s);
      advance();
      schedule();
    },
    async flush() {
      if (writing === undefined && !dirty) return;
      if (writing === undefined) schedule();
      await writing;
    },
    async save() {
      schedule();
      await writing;
    },
  };
}
