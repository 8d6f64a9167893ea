/**
 * Fails when the relative imports between the `.ts` files under a folder (default `src/`) form a
 * circle. Every import counts — `import type`, `export … from`, side-effect and dynamic imports —
 * as read by the TypeScript compiler's own pre-processor (`ts.preProcessFile`), so comments and
 * strings that merely look like imports do not. Prints each circle as a path
 * (`src/a.ts → src/b.ts → src/a.ts`) and exits 1.
 *
 *   node scripts/check-imports.ts [folder]
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";

/** The `.ts` files under `dir` (absolute paths, sorted). */
function tsFiles(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((name) => {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) return tsFiles(path);
      return name.endsWith(".ts") && !name.endsWith(".d.ts") ? [path] : [];
    });
}

/**
 * The import graph of the `.ts` files under `root`: file → the files under `root` it imports
 * (relative specifiers only; others leave the folder), each list sorted. Paths are absolute.
 */
export function importGraph(root: string): Map<string, string[]> {
  const files = tsFiles(resolve(root));
  const known = new Set(files);
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const { importedFiles } = ts.preProcessFile(readFileSync(file, "utf8"), true, true);
    const deps = new Set<string>();
    for (const { fileName } of importedFiles) {
      if (!fileName.startsWith(".")) continue;
      const target = resolve(dirname(file), fileName);
      if (known.has(target)) deps.add(target);
    }
    graph.set(file, [...deps].sort());
  }
  return graph;
}

/**
 * The import circles under `root`, each as the files along it with the first repeated at the end,
 * relative to `root` (`["a.ts", "b.ts", "a.ts"]`); empty when there is none. One circle per back
 * edge of a depth-first walk in file order: cutting the last edge of each circle printed leaves
 * no circle, so a fix that breaks them all breaks every circle.
 */
export function findImportCycles(root: string): string[][] {
  const graph = importGraph(root);
  const base = resolve(root);
  const state = new Map<string, 1 | 2>(); // 1 = on the walk's path, 2 = done
  const path: string[] = [];
  const cycles: string[][] = [];
  const visit = (file: string): void => {
    state.set(file, 1);
    path.push(file);
    for (const dep of graph.get(file) ?? []) {
      const s = state.get(dep);
      if (s === undefined) visit(dep);
      else if (s === 1) cycles.push([...path.slice(path.indexOf(dep)), dep].map((f) => relative(base, f)));
    }
    path.pop();
    state.set(file, 2);
  };
  for (const file of graph.keys()) if (!state.has(file)) visit(file);
  return cycles;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = process.argv[2] ?? "src";
  const cycles = findImportCycles(root);
  if (cycles.length > 0) {
    const lines = cycles.map((c) => c.map((f) => join(root, f)).join(" → "));
    console.error(`import circles in ${root}/ (move what both sides share into a file below both):\n  ${lines.join("\n  ")}`);
    process.exit(1);
  }
  console.log(`no import circle in ${root}/ (${importGraph(root).size} files)`);
}
