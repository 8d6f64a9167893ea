/**
 * Validation of a CreateKey request: pure, every problem with its proto field name. A key's
 * routes and limits are for client keys only (the proxy enforces them); admin roles take
 * neither, so a request that sets them for a viewer, operator or admin key is refused rather
 * than silently ignored. Routes are checked for syntax, not existence: a client key may name a
 * route that does not exist yet (and keeps naming one that is deleted); such a name simply
 * matches nothing until a route of that name exists.
 */
import { timestampMs, type Timestamp } from "@bufbuild/protobuf/wkt";
import { Role, type KeyLimits } from "../../../gen/turnout/v1/routing_pb.js";
import { isAdminRole, roleName } from "../../auth/roles.ts";
import type { FieldViolation } from "../../errors.ts";
import { uniqueKeys } from "../../snapshot/check-rules.ts";
import { routeNameProblem } from "./validate.ts";

/** Key names: letters, digits, spaces and '.', '_', ':', '@', '/', '-'; no space at either end. */
const KEY_NAME = /^[A-Za-z0-9._:@/-](?:[A-Za-z0-9 ._:@/-]*[A-Za-z0-9._:@/-])?$/;
/** Longest key name. */
const MAX_KEY_NAME = 64;
/** Most routes one client key may name. */
const MAX_KEY_ROUTES = 256;

/** The fields of a CreateKey request. */
export interface KeyInput {
  name: string;
  role: Role;
  routes: readonly string[];
  limits?: KeyLimits;
  expiresAt?: Timestamp;
}

function limitsSet(limits: KeyLimits | undefined): boolean {
  return (
    limits !== undefined &&
    (limits.requestsPerMinute > 0 || limits.tokensPerMinute > 0 || limits.maxConcurrent > 0 || limits.maxTokensPerRequest > 0)
  );
}

/** Every problem with `input` at `nowMs` (epoch ms); empty when the key may be created. */
export function validateKeyInput(input: KeyInput, nowMs: number): FieldViolation[] {
  const out: FieldViolation[] = [];
  if (input.name === "") out.push({ field: "name", message: "must not be empty" });
  else if (input.name.length > MAX_KEY_NAME) out.push({ field: "name", message: `must be at most ${MAX_KEY_NAME} characters` });
  else if (!KEY_NAME.test(input.name))
    out.push({
      field: "name",
      message: `${JSON.stringify(input.name)} is not a valid key name (letters, digits, spaces and '.', '_', ':', '@', '/', '-')`,
    });
  if (!isAdminRole(input.role) && input.role !== Role.CLIENT)
    out.push({ field: "role", message: "must be ROLE_VIEWER, ROLE_OPERATOR, ROLE_ADMIN or ROLE_CLIENT" });
  const client = input.role === Role.CLIENT;
  if (!client && input.routes.length > 0)
    out.push({ field: "routes", message: `only client keys take routes (this key is ${roleName(input.role)})` });
  if (!client && limitsSet(input.limits))
    out.push({ field: "limits", message: `only client keys take limits (this key is ${roleName(input.role)})` });
  if (input.routes.length > MAX_KEY_ROUTES)
    out.push({ field: "routes", message: `must name at most ${MAX_KEY_ROUTES} routes, got ${input.routes.length}` });
  const duplicate = uniqueKeys("route");
  input.routes.forEach((route, i) => {
    const problem = routeNameProblem(route) ?? duplicate(route, i);
    if (problem) out.push({ field: `routes[${i}]`, message: problem });
  });
  if (input.expiresAt !== undefined && timestampMs(input.expiresAt) <= nowMs)
    out.push({
      field: "expires_at",
      message: `must be in the future (${new Date(timestampMs(input.expiresAt)).toISOString()} is not)`,
    });
  return out;
}
