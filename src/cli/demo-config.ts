/**
 * The state `turnout up` bootstraps when it is given no config file: a route `qwen3-32b` over the
 * nodes it found (a local Ollama, or simulated nodes), written as native config YAML so it goes
 * through the same validation as any config file.
 */

/** A node found for the demo. */
export interface DemoNode {
  url: string;
  models: string[];
}

/** Config YAML for the demo nodes: every model is a variant; the first is the default. */
export function demoConfig(nodes: DemoNode[]): string {
  const models = [...new Set(nodes.flatMap((n) => n.models))];
  const variantName = (model: string) => model.replace(/[^A-Za-z0-9._-]/g, "-");
  const lines = ["nodes:"];
  nodes.forEach((node, i) => {
    lines.push(`  - id: node-${i + 1}`, `    url: ${JSON.stringify(node.url)}`, `    models: ${JSON.stringify(node.models)}`);
  });
  lines.push("routes:", `  - name: ${JSON.stringify(models.length > 0 && models[0] === "qwen3:32b" ? "qwen3-32b" : (models[0] ?? "default"))}`);
  lines.push(`    default: ${JSON.stringify(variantName(models[0] ?? "default"))}`, "    variants:");
  for (const model of models) lines.push(`      - name: ${JSON.stringify(variantName(model))}`, `        model: ${JSON.stringify(model)}`);
  return lines.join("\n") + "\n";
}

/** Asks `url` whether an Ollama answers there; answers its models, or undefined. */
export async function findLocalOllama(url: string): Promise<DemoNode | undefined> {
  try {
    const res = await fetch(`${url}/api/tags`, { signal: AbortSignal.timeout(500) });
    if (!res.ok) return undefined;
    const body = (await res.json()) as { models?: { name?: string }[] };
    const models = (body.models ?? []).map((m) => m.name).filter((m): m is string => typeof m === "string");
    return models.length > 0 ? { url, models } : undefined;
  } catch {
    return undefined;
  }
}
