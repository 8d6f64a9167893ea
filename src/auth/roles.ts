/**
 * Roles of API keys: their names and their order. Admin roles are ordered, viewer < operator <
 * admin, each allowed what the ones below it are; a client key is for the traffic port and has
 * no admin role at all. Pure, shared by the control plane, the proxy and the CLI.
 */
import { Role } from "../../gen/turnout/v1/routing_pb.js";

const NAMES: Readonly<Record<number, string>> = {
  [Role.VIEWER]: "viewer",
  [Role.OPERATOR]: "operator",
  [Role.ADMIN]: "admin",
  [Role.CLIENT]: "client",
};

const BY_NAME: ReadonlyMap<string, Role> = new Map(Object.entries(NAMES).map(([role, name]) => [name, Number(role) as Role]));

/** Rank of each admin role; client keys and an unset role have none. */
const ADMIN_RANK: Readonly<Record<number, number>> = { [Role.VIEWER]: 1, [Role.OPERATOR]: 2, [Role.ADMIN]: 3 };

/** The lower-case name of `role` ("viewer", "operator", "admin", "client"), or `role <n>` for a value that is none. */
export function roleName(role: Role): string {
  return NAMES[role] ?? `role ${role}`;
}

/** The role named `name` ("viewer", … or "ROLE_VIEWER", …, any case), or undefined. */
export function roleNamed(name: string): Role | undefined {
  return BY_NAME.get(name.toLowerCase().replace(/^role_/, ""));
}

/** True when `role` is an admin role (viewer, operator or admin). */
export function isAdminRole(role: Role): boolean {
  return ADMIN_RANK[role] !== undefined;
}

/** True when a key of role `have` may do what needs the admin role `need` (never for a client key). */
export function roleAllows(have: Role, need: Role): boolean {
  const h = ADMIN_RANK[have];
  const n = ADMIN_RANK[need];
  return h !== undefined && n !== undefined && h >= n;
}
