/**
 * A bounded set of recently seen keys, for dropping redelivered outcome records. Keys live in
 * generations (one per `generationSeconds` of arrival time); a key is remembered for at least
 * `keepSeconds`, after which its whole generation is forgotten at once. When more than `maxKeys`
 * are held, the oldest generation goes early (memory stays bounded under any load); a generation
 * holding a quarter of `maxKeys` is closed early, so a burst within one generation (a rebuild
 * replaying an hour at once) stays bounded too.
 */

/** Options of {@link RecentKeys}. */
export interface RecentKeysOptions {
  /** How long a key is remembered, in seconds. Default 300 (JetStream redelivers after its 30 s ack wait). */
  keepSeconds?: number;
  /** Seconds per generation. Default 30. */
  generationSeconds?: number;
  /** Most keys held. Default 1,000,000. */
  maxKeys?: number;
}

/** Recently seen keys. */
export class RecentKeys {
  private readonly generationMs: number;
  private readonly maxGenerations: number;
  private readonly maxKeys: number;
  /** Key → the generation that holds it: one lookup per key, whatever the number of generations. */
  private readonly held = new Map<string, number>();
  /** Oldest first: each generation's id and keys, to forget them together. */
  private readonly generations: { id: number; keys: string[] }[] = [];

  constructor(options: RecentKeysOptions = {}) {
    this.generationMs = (options.generationSeconds ?? 30) * 1000;
    this.maxGenerations = Math.ceil(((options.keepSeconds ?? 300) * 1000) / this.generationMs) + 1;
    this.maxKeys = options.maxKeys ?? 1_000_000;
  }

  /** Records `key` at time `nowMs`; answers false when it was already held (a duplicate). */
  add(key: string, nowMs: number): boolean {
    if (this.held.has(key)) return false;
    const id = Math.floor(nowMs / this.generationMs);
    let newest = this.generations.at(-1);
    if (newest === undefined || newest.id < id || newest.keys.length >= this.maxKeys / 4) {
      newest = { id: Math.max(id, newest?.id ?? id), keys: [] };
      this.generations.push(newest);
    }
    newest.keys.push(key);
    this.held.set(key, newest.id);
    while (this.generations.length > 1 && (this.generations[0].id <= id - this.maxGenerations || this.held.size > this.maxKeys)) {
      for (const k of this.generations.shift()!.keys) this.held.delete(k);
    }
    return true;
  }

  /** Keys held now. */
  get count(): number {
    return this.held.size;
  }
}
