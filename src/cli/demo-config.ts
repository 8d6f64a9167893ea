/**
 * The state `turnout up` bootstraps when it is given no config file, written as native config
 * YAML so it goes through the same validation as any config file:
 * - over a local Ollama: one route per model, named exactly as the model (clients change nothing);
 * - over simulated nodes: a route `qwen3-32b` with the variants `qwen3-32b` and `qwen3-8b`.
 */

/** A node found for the demo. */
export interface DemoNode {
  url: string;
  models: string[];
}

const variantName = (model: string) => model.replace(/[^A-Za-z0-9._-]/g, "-");

function nodeLines(nodes: DemoNode[]): string[] {
  return [
    "nodes:",
    ...nodes.map((n, i) => `  - { id: node-${i + 1}, url: ${JSON.stringify(n.url)}, models: ${JSON.stringify(n.models)} }`),
  ];
}

/** Config YAML with one single-variant route per model of a local Ollama. */
export function localOllamaConfig(node: DemoNode): string {
  const routes = node.models.map(
    (model) =>
      `  - { name: ${JSON.stringify(model)}, variants: [ { name: ${JSON.stringify(variantName(model))}, model: ${JSON.stringify(model)} } ] }`,
  );
  return `${[...nodeLines([node]), "routes:", ...routes].join("\n")}\n`;
}

/** Config YAML for simulated nodes serving qwen3:32b and qwen3:8b: one route, two variants. */
export function simulatedConfig(nodes: DemoNode[]): string {
  return `${[
    ...nodeLines(nodes),
    "routes:",
    "  - name: qwen3-32b",
    "    default: qwen3-32b",
    "    variants:",
    '      - { name: qwen3-32b, model: "qwen3:32b" }',
    '      - { name: qwen3-8b, model: "qwen3:8b" }',
  ].join("\n")}\n`;
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
