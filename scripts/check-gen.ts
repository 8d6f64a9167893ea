/**
 * Fails when `gen/` differs from what `buf generate` makes of `proto/` now: regenerates into a
 * temporary folder and compares file by file.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? walk(path) : [path];
  });
}

const out = mkdtempSync(join(tmpdir(), "turnout-gen-"));
try {
  const template = join(out, "buf.gen.yaml");
  const config = readFileSync("buf.gen.yaml", "utf8").replace(/out: gen/, `out: ${join(out, "gen")}`);
  writeFileSync(template, config);
  execFileSync("buf", ["generate", "--template", template], { stdio: "inherit" });
  const want = walk(join(out, "gen"))
    .map((p) => relative(join(out, "gen"), p))
    .sort();
  const have = walk("gen")
    .map((p) => relative("gen", p))
    .sort();
  const problems: string[] = [];
  for (const file of new Set([...want, ...have])) {
    if (!want.includes(file)) problems.push(`gen/${file} is not generated from proto/ any more`);
    else if (!have.includes(file)) problems.push(`gen/${file} is missing`);
    else if (!readFileSync(join(out, "gen", file)).equals(readFileSync(join("gen", file)))) problems.push(`gen/${file} differs`);
  }
  if (problems.length > 0) {
    console.error(`gen/ is out of date; run \`npm run generate\` and commit:\n  ${problems.join("\n  ")}`);
    process.exit(1);
  }
  console.log(`gen/ is up to date (${have.length} files)`);
} finally {
  rmSync(out, { recursive: true, force: true });
}
