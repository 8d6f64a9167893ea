/**
 * The route stage of every dialect: a decoded request's model, unit, headers and metadata in,
 * where it goes out. Resolve the route by model name (resolve-route.ts); when the route has
 * running experiments, try them (route-experiments.ts: layer → targeting → arm, a signed ref);
 * otherwise, or when the request is not in one, the route's split (assign-variant.ts); then the
 * variant's rewrite of the request's Ollama options and keep_alive (a client's keep_alive under the
 * residency policy, client-keep-alive.ts). A route outside the client key's scope is not found,
 * exactly as a route that does not exist. The dialects only decode the request and answer what
 * this stage says (an exchange for a routed request; 404 or 400 in their own shape otherwise). Pure but for the ref's timestamp; on the hot path it builds the result and
 * the assignment, nothing more.
 */
import type { KeyObject } from "node:crypto";
import { formatViolations, type FieldViolation } from "../../errors.ts";
import type { HeaderBag } from "../../assign/targeting/attributes-of.ts";
import type { CompiledRoute, CompiledVariant } from "../snapshot/compiled-route.ts";
import type { RoutingTable } from "../snapshot/routing-table.ts";
import { assignVariant } from "./assign-variant.ts";
import type { Assignment } from "./assignment.ts";
import { clientKeepAliveValue } from "./client-keep-alive.ts";
import { normalizeOptions } from "./normalize-options.ts";
import { assignExperiment } from "./route-experiments.ts";
import { resolveRoute } from "./resolve-route.ts";

/** How a request's Ollama options and keep_alive are rewritten for its variant. */
export const OptionsRewrite = {
  /**
   * Native inference and Connect chat: the client's runner options are dropped, the variant's
   * options win over the rest, and the variant's keep_alive (when it has one) replaces the client's
   * (else the residency policy decides what of the client's is forwarded).
   */
  Variant: "variant",
  /**
   * /v1 (no options of its own, but a client may send Ollama's): the client's runner options are
   * dropped, the variant's options are not added; the variant's keep_alive as for `Variant`.
   */
  ClientOnly: "client-only",
  /** /api/show: neither options nor keep_alive are touched (the client's keep_alive is answered as given). */
  None: "none",
} as const;
export type OptionsRewrite = (typeof OptionsRewrite)[keyof typeof OptionsRewrite];

/** Why a request has nowhere to go. */
export const RouteProblem = {
  /** No route has the model's name (404 / NotFound). */
  NotFound: "not_found",
  /** A running experiment's targeting could not read the request's attributes (400 / InvalidArgument). */
  InvalidAttributes: "invalid_attributes",
} as const;
export type RouteProblem = (typeof RouteProblem)[keyof typeof RouteProblem];

/** A request with somewhere to go. */
export interface RoutedRequest {
  readonly ok: true;
  readonly route: CompiledRoute;
  /** The variant it goes to (`assignment.variant`). */
  readonly variant: CompiledVariant;
  /** How it was assigned; `assignment.experiment` is set when it is counted in an experiment. */
  readonly assignment: Assignment;
  /**
   * The options to forward, or undefined when the body's are to stay as they are (the client sent
   * none and the variant adds none, or the rewrite is `None`). The client's object is rewritten in
   * place.
   */
  readonly options: unknown;
  /** The keep_alive to forward (Ollama's form: whole seconds as a number), or undefined to forward none. */
  readonly keepAlive: unknown;
}

const NO_VIOLATIONS: readonly FieldViolation[] = [];

/** A request with nowhere to go: the dialect answers `message` in its own shape. */
export interface UnroutedRequest {
  readonly ok: false;
  readonly problem: RouteProblem;
  /** What the client is told (`model 'x' not found`, or the attribute problems). */
  readonly message: string;
  /** The fields at fault (the attributes'); empty for an unknown model. */
  readonly violations: readonly FieldViolation[];
}

/** The outcome of {@link routeRequest}. */
export type RouteResult = RoutedRequest | UnroutedRequest;

/**
 * Routes one decoded request on `table`: `model` is the client's model name (not empty), `unit`
 * its assignment unit (undefined or "" for none), `headers` and `metadata` (the body's, undefined
 * when none) its targeting attributes, `options` the client's Ollama options (undefined when
 * none; an object is rewritten in place) and `rewrite` how they and keep_alive are rewritten,
 * `clientKeepAlive` the client's keep_alive (undefined when none); `requestId` and `key` sign the
 * ref of a request counted in an experiment; `scope` is the route names the client's key may use
 * (null: every route). Positional, so that the hot path builds no argument object.
 */
export function routeRequest(
  table: RoutingTable,
  key: KeyObject,
  requestId: string,
  model: string,
  unit: string | undefined,
  headers: HeaderBag,
  metadata: unknown,
  options: unknown,
  rewrite: OptionsRewrite,
  clientKeepAlive: unknown,
  scope: ReadonlySet<string> | null,
): RouteResult {
  const route = resolveRoute(table, model);
  if (route === undefined || (scope !== null && !scope.has(route.name)))
    return { ok: false, problem: RouteProblem.NotFound, message: `model '${model}' not found`, violations: NO_VIOLATIONS };
  let assignment: Assignment | undefined;
  if (route.experiments !== null) {
    const inExperiment = assignExperiment(route.experiments, unit, headers, metadata, requestId, table.version, key);
    if (Array.isArray(inExperiment))
      return {
        ok: false,
        problem: RouteProblem.InvalidAttributes,
        message: formatViolations(inExperiment),
        violations: inExperiment,
      };
    assignment = inExperiment;
  }
  assignment ??= assignVariant(route, unit);
  const variant = assignment.variant;
  if (rewrite === OptionsRewrite.None)
    return { ok: true, route, variant, assignment, options: undefined, keepAlive: clientKeepAlive };
  return {
    ok: true,
    route,
    variant,
    assignment,
    // Clients cannot make a node reload the model: runner options are the variant's alone.
    options: normalizeOptions(options, rewrite === OptionsRewrite.Variant ? variant.options : undefined),
    // Clients cannot unload or pin a model: the variant's keep_alive, else what the policy lets through.
    keepAlive:
      variant.keepAlive === ""
        ? clientKeepAliveValue(table.settings.clientKeepAlive, clientKeepAlive)
        : keepAliveValue(variant.keepAlive),
  };
}

/** keep_alive as Ollama takes it: a number of seconds stays a number, else the duration string. */
function keepAliveValue(value: string): string | number {
  return /^-?\d+$/.test(value) ? Number(value) : value;
}
