/**
 * Who makes an admin call: the key id and role the admin port's interceptor authenticated (see
 * admin-interceptor.ts), carried to the handlers in Connect's context values. Handlers pass the
 * key id on to the writes, which put it into the audit log and the ConfigChanged events.
 */
import { createContextKey, type HandlerContext } from "@connectrpc/connect";
import { Role } from "../../../gen/turnout/v1/routing_pb.js";

/** An authenticated admin caller. */
export interface Actor {
  /** A key's id, {@link BOOTSTRAP_KEY_ID} or {@link ANONYMOUS_KEY_ID}. */
  keyId: string;
  /** The role the call runs with. */
  role: Role;
}

/** Key id of the bootstrap admin token (TURNOUT_ADMIN_TOKEN, auth.admin_token_file). */
export const BOOTSTRAP_KEY_ID = "bootstrap";
/** Key id of every caller of an open loopback admin port (no admin token, no admin key stored). */
const ANONYMOUS_KEY_ID = "anonymous";
/** Key id of changes the control plane makes on its own (rollout steps, config bootstrap). */
export const SYSTEM_KEY_ID = "system";

/** The anonymous admin of an open loopback admin port. */
export const ANONYMOUS: Actor = { keyId: ANONYMOUS_KEY_ID, role: Role.ADMIN };

/**
 * The caller of the current call. Its default (a handler reached without the admin port's
 * interceptor, e.g. over an in-process router transport) is {@link ANONYMOUS}.
 */
export const ACTOR = createContextKey<Actor>(ANONYMOUS, { description: "turnout admin caller" });

/** The key id of the caller of the call `ctx` belongs to. */
export function callerOf(ctx: HandlerContext): string {
  return ctx.values.get(ACTOR).keyId;
}
