/**
 * The admin port's Connect interceptor: every call is authenticated (admin-authenticator.ts),
 * checked against the role its method needs (method-roles.ts), and handed to its handler with
 * the caller in the context values (actor.ts). Every write — accepted, failed or refused for its
 * role — is recorded in the audit log with the caller's key id, the request, and what came of
 * it; calls without a valid key are refused before they are recorded (so anonymous callers
 * cannot fill the log). A streaming write (SwitchService.Switch) is recorded when its stream
 * ends. The audit write is awaited before the answer; if the store cannot take it, the call
 * still answers and the failure is logged.
 */
import { toJsonString, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import {
  Code,
  ConnectError,
  createContextKey,
  type Interceptor,
  type StreamRequest,
  type UnaryRequest,
} from "@connectrpc/connect";
import { ErrorCode, TurnoutError, toConnectError } from "../../errors.ts";
import type { Logger } from "../../log.ts";
import type { AuditInput, AuditLog } from "../state/audit-log.ts";
import { ACTOR, type Actor } from "./actor.ts";
import { authorize, type AdminAuthenticator } from "./admin-authenticator.ts";
import { accessOf, methodKey } from "./method-roles.ts";

/** Address of the caller's connection, set by the admin server from the Node request. */
export const REMOTE_ADDRESS = createContextKey<string>("", { description: "remote address of an admin call" });

/** Options of {@link createAdminInterceptor}. */
export interface AdminInterceptorOptions {
  authenticator: AdminAuthenticator;
  /** Where writes are recorded. */
  audit: AuditLog;
  /** Logs audit writes that failed. */
  logger: Logger;
  /** Clock, epoch ms. Default `Date.now`. */
  now?: () => number;
}

/** "permission_denied" for Code.PermissionDenied: the Connect protocol's name of a code. */
function codeName(code: Code): string {
  return Code[code].replace(/[A-Z]/g, (c, i: number) => (i === 0 ? "" : "_") + c.toLowerCase());
}

/** The `revision` and `snapshotVersion` a response answers, when it has them. */
function answered(message: unknown): Pick<AuditInput, "revision" | "snapshotVersion"> {
  const m = message as { revision?: unknown; snapshotVersion?: unknown };
  return {
    revision: typeof m.revision === "bigint" ? m.revision : undefined,
    snapshotVersion: typeof m.snapshotVersion === "bigint" ? m.snapshotVersion : undefined,
  };
}

/** The JSON form of a request, or a note saying why it cannot be shown. */
function requestText(schema: DescMessage, message: MessageShape<DescMessage>): string {
  try {
    return toJsonString(schema, message);
  } catch (err) {
    return `(request not shown: ${(err as Error).message})`;
  }
}

/** The text of a call's (first) request; for a stream, read from it (only for a call that is refused). */
async function firstRequestText(req: UnaryRequest | StreamRequest): Promise<string> {
  if (!req.stream) return requestText(req.method.input, req.message);
  try {
    for await (const m of req.message) return requestText(req.method.input, m);
  } catch {
    // an unreadable request stream: recorded without its text
  }
  return "";
}

/** Creates the interceptor. */
export function createAdminInterceptor(options: AdminInterceptorOptions): Interceptor {
  const now = options.now ?? Date.now;
  const log = options.logger.child({ component: "admin-auth" });

  return (next) => async (req) => {
    const at = now();
    const what = methodKey(req.service.typeName, req.method.name);
    let actor: Actor;
    try {
      actor = await options.authenticator.caller(req.header.get("authorization"));
    } catch (err) {
      throw toConnectError(err);
    }
    const access = accessOf(req.service.typeName, req.method.name);
    const base = { at: timestampFromMs(at), keyId: actor.keyId, role: actor.role, method: what };
    const remoteAddress = req.contextValues.get(REMOTE_ADDRESS);
    let request = "";
    const record = async (err: unknown, message?: unknown) => {
      const code = err === undefined ? "ok" : codeName(ConnectError.from(err).code);
      const entry: AuditInput = {
        ...base,
        request,
        code,
        error: err === undefined ? "" : ConnectError.from(err).rawMessage,
        remoteAddress,
        ...(message === undefined ? {} : answered(message)),
      };
      try {
        await options.audit.append(entry);
      } catch (e) {
        log.error({ err: e, method: what, keyId: actor.keyId, code }, "audit entry not recorded");
      }
    };

    try {
      if (access === undefined) throw new TurnoutError(ErrorCode.PermissionDenied, `${what} has no role defined: refused`);
      authorize(actor, access.role, what);
    } catch (err) {
      const denied = toConnectError(err);
      if (access?.write) {
        request = await firstRequestText(req);
        await record(denied);
      }
      throw denied;
    }
    req.contextValues.set(ACTOR, actor);
    if (!access.write) return next(req);

    if (!req.stream) {
      request = requestText(req.method.input, req.message);
      try {
        const res = await next(req);
        await record(undefined, res.message);
        return res;
      } catch (err) {
        await record(err);
        throw err;
      }
    }

    // A streaming write: note its (first) request as it is read, record when the stream ends.
    const input = req.message;
    const tapped = (async function* () {
      for await (const m of input) {
        if (request === "") request = requestText(req.method.input, m);
        yield m;
      }
    })();
    let res;
    try {
      res = await next({ ...req, message: tapped });
    } catch (err) {
      await record(err);
      throw err;
    }
    if (!res.stream) return res;
    const output = res.message;
    const watched = (async function* () {
      let ended = false;
      try {
        yield* output;
        ended = true;
        await record(undefined);
      } catch (err) {
        ended = true;
        await record(err);
        throw err;
      } finally {
        if (!ended) await record(new ConnectError("the caller went away before the stream ended", Code.Canceled));
      }
    })();
    return { ...res, message: watched };
  };
}
