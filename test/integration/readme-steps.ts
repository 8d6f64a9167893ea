/**
 * Reads the commands of a README section and checks what they print against what the README
 * shows, so the README and a test of it cannot drift apart.
 *
 * In a ```sh block of the section, a run of command lines followed by a run of `# ` lines is one
 * step: the `# ` lines are what the commands print (a blank line also ends a step). In expected
 * lines `…` stands for any text; a line of only `…` stands for lines left out. A ```js block is
 * one program.
 */

/** One command (one or more shell lines) and the lines the README shows it printing. */
export interface ReadmeStep {
  code: string;
  expected: string[];
}

/** A fenced block of the section. */
export interface ReadmeBlock {
  lang: "sh" | "js";
  /** 1-based line of the opening fence in the file. */
  line: number;
  /** The block's text. */
  code: string;
  /** The steps of an sh block; empty for js. */
  steps: ReadmeStep[];
}

/** The ```sh and ```js blocks of the `## <heading>` section of `markdown`, in order. */
export function sectionBlocks(markdown: string, heading: string): ReadmeBlock[] {
  const lines = markdown.split("\n");
  const start = lines.findIndex((l) => l.trimEnd() === `## ${heading}`);
  if (start < 0) throw new Error(`no "## ${heading}" section`);
  const blocks: ReadmeBlock[] = [];
  let open: { lang: string; line: number; body: string[] } | undefined;
  for (let i = start + 1; i < lines.length; i++) {
    const line = lines[i]!;
    if (open === undefined && /^## /.test(line)) break;
    const fence = /^```(\w*)\s*$/.exec(line);
    if (fence === null) {
      open?.body.push(line);
    } else if (open === undefined) {
      open = { lang: fence[1]!, line: i + 1, body: [] };
    } else {
      if (open.lang === "sh" || open.lang === "js") {
        blocks.push({
          lang: open.lang,
          line: open.line,
          code: open.body.join("\n"),
          steps: open.lang === "sh" ? shSteps(open.body) : [],
        });
      }
      open = undefined;
    }
  }
  if (open !== undefined) throw new Error(`unclosed code block at line ${open.line}`);
  return blocks;
}

function shSteps(body: string[]): ReadmeStep[] {
  const steps: ReadmeStep[] = [];
  let code: string[] = [];
  let expected: string[] = [];
  const end = () => {
    if (code.length > 0) steps.push({ code: code.join("\n"), expected });
    code = [];
    expected = [];
  };
  for (const line of body) {
    const shown = /^#(?: (.*)|)$/.exec(line);
    if (shown !== null) {
      if (code.length === 0) throw new Error(`output line without a command before it: ${line}`);
      expected.push(shown[1] ?? "");
    } else if (line.trim() === "") {
      end();
    } else {
      if (expected.length > 0) end();
      code.push(line);
    }
  }
  end();
  return steps;
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/**
 * The first expected line that `output` does not print, in order (each expected line matches a
 * whole output line after the one the previous matched); undefined when all are there.
 */
export function firstMissingLine(expected: readonly string[], output: string): string | undefined {
  const lines = output.split("\n").map((l) => l.replace(/\r$/, "").trimEnd());
  let at = 0;
  for (const want of expected) {
    const text = want.trimEnd();
    if (text === "…") continue;
    const pattern = new RegExp(`^${text.split("…").map(escape).join(".*")}$`);
    while (at < lines.length && !pattern.test(lines[at]!)) at++;
    if (at === lines.length) return want;
    at++;
  }
  return undefined;
}
