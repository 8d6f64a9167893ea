/** Desired state for experiment tests: route "chat" with variants a, b, c and route "other" (x, y). */
import { create } from "@bufbuild/protobuf";
import { NodeSchema, RouteSchema, VariantSchema } from "../../gen/turnout/v1/routing_pb.js";
import type { DesiredState } from "../../src/control/state/desired-state.ts";

/** The bootstrap state; `baseUrl` is the node every variant is served by. */
export function experimentState(baseUrl = "http://127.0.0.1:1/"): DesiredState {
  const v = (name: string, model: string) => create(VariantSchema, { name, model });
  return {
    nodes: [create(NodeSchema, { id: "n1", baseUrl })],
    routes: [
      create(RouteSchema, {
        name: "chat",
        variants: [v("a", "qwen3:0.6b"), v("b", "qwen3:1.7b"), v("c", "qwen3:4b")],
        defaultVariant: "a",
      }),
      create(RouteSchema, { name: "other", variants: [v("x", "qwen3:0.6b"), v("y", "qwen3:1.7b")], defaultVariant: "x" }),
    ],
  };
}
