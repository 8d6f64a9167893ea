/**
 * What a switch is asked to do (`SwitchInput`) and the lock a route's switch holds until its
 * shift (`SwitchLock`): shared by the switcher (model-switch.ts) and its steps (switch-steps.ts).
 */

/** What to switch, and how. */
export interface SwitchInput {
  /** Route name. */
  route: string;
  /** Variant that is to serve the whole route. */
  variant: string;
  /** Route revision the caller last read. Default: the one read when the switch starts. */
  expectedRevision?: number;
  /** Unload the old model once drained. Default: the old variant's `unload_when_idle`. */
  unload?: boolean;
  /** Longest wait for the fleet before and after the shift, in ms. Default: the switcher's. */
  fleetTimeoutMs?: number;
  /** Longest wait for the old variant to drain, in ms. Default: the switcher's. */
  drainTimeoutMs?: number;
  /** Keep-alive of the pre-warm when the variant has none. Default "30m". */
  keepAlive?: string;
  /** Shift without loading the model first. Default false. */
  skipPrewarm?: boolean;
  /** End after the shift unless an unload is due (nobody watches the drain). Default false. */
  stopAfterShift?: boolean;
  /** Key id of the caller, carried by the shift's ConfigChanged event. Default "system". */
  keyId?: string;
}

/** A route's switch before its shift. */
export interface SwitchLock {
  /** Its target variant. */
  variant: string;
  /** Its SwitchModel write, once started (settles, never rejects). */
  writing?: Promise<unknown>;
}
