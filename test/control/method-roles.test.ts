import { test } from "node:test";
import assert from "node:assert/strict";
import { createConnectRouter } from "@connectrpc/connect";
import { ChatService } from "../../gen/turnout/v1/chat_pb.js";
import { Role } from "../../gen/turnout/v1/routing_pb.js";
import { startAdminServer } from "../../src/control/admin/admin-server.ts";
import { METHOD_ROLES, methodsWithoutRole } from "../../src/control/auth/method-roles.ts";
import { createLogger } from "../../src/log.ts";
import { registerReflection } from "../../src/server/reflection/register-reflection.ts";
import { startAuthPlane } from "./auth-harness.ts";

test("every method of every service on the admin router has a role, and the table names no other method", async (t) => {
  const plane = await startAuthPlane(t); // with a bus, so FleetService is registered too
  const router = createConnectRouter();
  plane.controlPlane.routes(router);
  registerReflection(router);
  const served = router.handlers.map((h) => `${h.service.typeName}/${h.method.name}`);
  assert.ok(served.includes("turnout.v1.FleetService/WatchFleet"));
  assert.ok(served.includes("turnout.v1.KeyService/CreateKey"));
  assert.deepEqual(methodsWithoutRole(router.handlers), [], "methods without a role");
  assert.deepEqual(
    Object.keys(METHOD_ROLES).filter((m) => !served.includes(m)),
    [],
    "table entries for methods the admin port does not serve",
  );
});

test("a method without a role is found, and the admin server refuses to start with one", async (t) => {
  const router = createConnectRouter();
  router.service(ChatService, {});
  assert.deepEqual(methodsWithoutRole(router.handlers), ["turnout.v1.ChatService/Chat", "turnout.v1.ChatService/Feedback"]);

  const plane = await startAuthPlane(t);
  const withChat = {
    ...plane.controlPlane,
    routes(r: Parameters<typeof plane.controlPlane.routes>[0]) {
      plane.controlPlane.routes(r);
      r.service(ChatService, {});
    },
  };
  await assert.rejects(
    startAdminServer({ port: 0, controlPlane: withChat, logger: createLogger({ level: "silent" }) }),
    /admin methods without a role .*turnout\.v1\.ChatService\/Chat, turnout\.v1\.ChatService\/Feedback/,
  );
});

test("reads (Get, List, Watch, reflection) are viewer's and not audited; every other method is an audited write", () => {
  for (const [method, access] of Object.entries(METHOD_ROLES)) {
    const name = method.split("/")[1]!;
    const read = /^(Get|List|Watch|ServerReflectionInfo)/.test(name);
    assert.equal(access.write, !read, `${method}: write`);
    if (read && !method.startsWith("turnout.v1.KeyService/")) assert.equal(access.role, Role.VIEWER, `${method}: role`);
    if (!read) assert.ok(access.role === Role.OPERATOR || access.role === Role.ADMIN, `${method}: role`);
  }
  // the split: nodes, routes, keys admin; switches, weights, experiments, rollouts operator
  const roleOf = (m: string) => METHOD_ROLES[m]!.role;
  assert.equal(roleOf("turnout.v1.AdminService/PutRoute"), Role.ADMIN);
  assert.equal(roleOf("turnout.v1.AdminService/DeleteNode"), Role.ADMIN);
  assert.equal(roleOf("turnout.v1.KeyService/ListKeys"), Role.ADMIN);
  assert.equal(roleOf("turnout.v1.AdminService/SetWeights"), Role.OPERATOR);
  assert.equal(roleOf("turnout.v1.SwitchService/Switch"), Role.OPERATOR);
  assert.equal(roleOf("turnout.v1.ExperimentService/Start"), Role.OPERATOR);
  assert.equal(roleOf("turnout.v1.RolloutService/StartRollout"), Role.OPERATOR);
});
