/**
 * The role each admin RPC needs, for every method of every service the admin port serves: reads
 * (Get, List, Watch, reports, reflection) need viewer; switches, weights, experiments and
 * rollouts operator; nodes, routes, settings and keys admin. Writes are marked: each one is
 * recorded in the audit log. A method with no entry is refused (and the admin server refuses to
 * start while one is registered, see {@link methodsWithoutRole}), so a new RPC cannot slip
 * through unguarded.
 */
import { Role } from "../../../gen/turnout/v1/routing_pb.js";

/** What a method needs, and whether it writes. */
export interface MethodAccess {
  /** Least admin role that may call it. */
  role: Role;
  /** True for a write: audited. */
  write: boolean;
}

const read = (role: Role = Role.VIEWER): MethodAccess => ({ role, write: false });
const write = (role: Role): MethodAccess => ({ role, write: true });

/** Access per method, keyed `<service type name>/<method name>`. */
export const METHOD_ROLES: Readonly<Record<string, MethodAccess>> = {
  "turnout.v1.AdminService/ListNodes": read(),
  "turnout.v1.AdminService/GetNode": read(),
  "turnout.v1.AdminService/PutNode": write(Role.ADMIN),
  "turnout.v1.AdminService/DeleteNode": write(Role.ADMIN),
  "turnout.v1.AdminService/ListRoutes": read(),
  "turnout.v1.AdminService/GetRoute": read(),
  "turnout.v1.AdminService/PutRoute": write(Role.ADMIN),
  "turnout.v1.AdminService/DeleteRoute": write(Role.ADMIN),
  "turnout.v1.AdminService/GetCurrentModel": read(),
  "turnout.v1.AdminService/SwitchModel": write(Role.OPERATOR),
  "turnout.v1.AdminService/SetWeights": write(Role.OPERATOR),
  "turnout.v1.AdminService/GetSnapshot": read(),

  "turnout.v1.SwitchService/Switch": write(Role.OPERATOR),
  "turnout.v1.SwitchService/CancelSwitch": write(Role.OPERATOR),

  "turnout.v1.ExperimentService/Create": write(Role.OPERATOR),
  "turnout.v1.ExperimentService/Start": write(Role.OPERATOR),
  "turnout.v1.ExperimentService/Pause": write(Role.OPERATOR),
  "turnout.v1.ExperimentService/Stop": write(Role.OPERATOR),
  "turnout.v1.ExperimentService/Conclude": write(Role.OPERATOR),
  "turnout.v1.ExperimentService/ChangeSplit": write(Role.OPERATOR),
  "turnout.v1.ExperimentService/Get": read(),
  "turnout.v1.ExperimentService/List": read(),
  "turnout.v1.ExperimentService/GetReport": read(),
  "turnout.v1.ExperimentService/WatchReport": read(),

  "turnout.v1.RolloutService/StartRollout": write(Role.OPERATOR),
  "turnout.v1.RolloutService/GetRollout": read(),
  "turnout.v1.RolloutService/ListRollouts": read(),
  "turnout.v1.RolloutService/WatchRollout": read(),
  "turnout.v1.RolloutService/PauseRollout": write(Role.OPERATOR),
  "turnout.v1.RolloutService/ResumeRollout": write(Role.OPERATOR),
  "turnout.v1.RolloutService/AbortRollout": write(Role.OPERATOR),
  "turnout.v1.RolloutService/PromoteRollout": write(Role.OPERATOR),
  "turnout.v1.RolloutService/ListAudit": read(),
  "turnout.v1.RolloutService/GetAuditLog": read(),

  "turnout.v1.FleetService/ListProxies": read(),
  "turnout.v1.FleetService/WatchFleet": read(),
  "turnout.v1.FleetService/GetConvergence": read(),

  "turnout.v1.MetricsService/GetMetrics": read(),
  "turnout.v1.MetricsService/WatchMetrics": read(),

  "turnout.v1.KeyService/CreateKey": write(Role.ADMIN),
  "turnout.v1.KeyService/ListKeys": read(Role.ADMIN),
  "turnout.v1.KeyService/RevokeKey": write(Role.ADMIN),
  "turnout.v1.KeyService/ListAuditEntries": read(Role.ADMIN),

  "grpc.reflection.v1.ServerReflection/ServerReflectionInfo": read(),
  "grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo": read(),
};

/** The table key of a method. */
export function methodKey(service: string, method: string): string {
  return `${service}/${method}`;
}

/** The access `service/method` needs, or undefined when the table has no entry for it. */
export function accessOf(service: string, method: string): MethodAccess | undefined {
  return Object.hasOwn(METHOD_ROLES, methodKey(service, method)) ? METHOD_ROLES[methodKey(service, method)] : undefined;
}

/** The methods among `handlers` (a ConnectRouter's) that have no entry, as `service/method`. */
export function methodsWithoutRole(handlers: readonly { service: { typeName: string }; method: { name: string } }[]): string[] {
  return handlers
    .filter((h) => accessOf(h.service.typeName, h.method.name) === undefined)
    .map((h) => methodKey(h.service.typeName, h.method.name));
}
