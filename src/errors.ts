/**
 * Turnout's error classes. Each has a stable `code`; boundaries convert them once: to a Connect
 * `Code` for RPCs (see `toConnectError`), to the dialect's own status and body for chat traffic.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { BadRequestSchema } from "../gen/turnout/v1/error_details_pb.js";

/** Stable error codes, as an `as const` object with a derived union type (no `enum`). */
export const ErrorCode = {
  InvalidArgument: "invalid_argument",
  NotFound: "not_found",
  AlreadyExists: "already_exists",
  Aborted: "aborted",
  FailedPrecondition: "failed_precondition",
  Unavailable: "unavailable",
  ResourceExhausted: "resource_exhausted",
  DeadlineExceeded: "deadline_exceeded",
  Internal: "internal",
  Unauthenticated: "unauthenticated",
  PermissionDenied: "permission_denied",
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** A problem with one field of an input, by its path (`routes[0].variants[1].model`). */
export interface FieldViolation {
  /** Path of the field, dotted with indexes. */
  field: string;
  /** What is wrong with it. */
  message: string;
}

/** The one error type Turnout's stages throw. */
export class TurnoutError extends Error {
  readonly code: ErrorCode;
  /** Field problems: those of an `invalid_argument` error, or the state a `failed_precondition` would break; empty otherwise. */
  readonly violations: readonly FieldViolation[];

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; violations?: FieldViolation[] }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "TurnoutError";
    this.code = code;
    this.violations = options?.violations ?? [];
  }
}

/** The violations as one line of text: `field: message; field: message` (a violation without a field is its message). */
export function formatViolations(violations: readonly FieldViolation[]): string {
  return violations.map((v) => (v.field === "" ? v.message : `${v.field}: ${v.message}`)).join("; ");
}

/** Builds an `invalid_argument` error listing every violation (see {@link formatViolations}). */
export function invalidArgument(violations: FieldViolation[]): TurnoutError {
  return new TurnoutError(ErrorCode.InvalidArgument, formatViolations(violations), { violations });
}

const connectCodes: Record<ErrorCode, Code> = {
  [ErrorCode.InvalidArgument]: Code.InvalidArgument,
  [ErrorCode.NotFound]: Code.NotFound,
  [ErrorCode.AlreadyExists]: Code.AlreadyExists,
  [ErrorCode.Aborted]: Code.Aborted,
  [ErrorCode.FailedPrecondition]: Code.FailedPrecondition,
  [ErrorCode.Unavailable]: Code.Unavailable,
  [ErrorCode.ResourceExhausted]: Code.ResourceExhausted,
  [ErrorCode.DeadlineExceeded]: Code.DeadlineExceeded,
  [ErrorCode.Internal]: Code.Internal,
  [ErrorCode.Unauthenticated]: Code.Unauthenticated,
  [ErrorCode.PermissionDenied]: Code.PermissionDenied,
};

/**
 * Converts any thrown value to a ConnectError at an RPC boundary. A TurnoutError's violations go
 * along as a `turnout.v1.BadRequest` error detail (field, description per violation), so a client
 * reads them with `err.findDetails(BadRequestSchema)` instead of parsing the message.
 */
export function toConnectError(err: unknown): ConnectError {
  if (err instanceof ConnectError) return err;
  if (err instanceof TurnoutError) {
    const details =
      err.violations.length === 0
        ? undefined
        : [
            {
              desc: BadRequestSchema,
              value: { fieldViolations: err.violations.map((v) => ({ field: v.field, description: v.message })) },
            },
          ];
    return new ConnectError(err.message, connectCodes[err.code], undefined, details, err);
  }
  return new ConnectError("internal error", Code.Internal, undefined, undefined, err);
}

/** Runs an RPC handler's work, converting whatever it throws to a ConnectError. */
export async function rpc<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw toConnectError(err);
  }
}
