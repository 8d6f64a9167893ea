/**
 * NATS subject matching, for the in-process event bus: subjects are dot-separated tokens; in a
 * pattern `*` matches exactly one token and `>` (only as the last token) matches one or more.
 */

/** Splits a subject or pattern into tokens. */
export function subjectTokens(subject: string): string[] {
  return subject.split(".");
}

/** True when `subject` is a valid publish subject: non-empty tokens, no wildcards, no spaces. */
export function isValidSubject(subject: string): boolean {
  return subjectTokens(subject).every((t) => t.length > 0 && t !== "*" && t !== ">" && !/\s/.test(t));
}

/** True when `pattern` is a valid subscription: non-empty tokens, `>` only last. */
export function isValidPattern(pattern: string): boolean {
  const tokens = subjectTokens(pattern);
  return tokens.every((t, i) => t.length > 0 && !/\s/.test(t) && (t !== ">" || i === tokens.length - 1));
}

/** True when the tokens of a subject match the tokens of a pattern. */
export function tokensMatch(pattern: readonly string[], subject: readonly string[]): boolean {
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i];
    if (p === ">") return subject.length > i;
    if (i >= subject.length) return false;
    if (p !== "*" && p !== subject[i]) return false;
  }
  return pattern.length === subject.length;
}

/** True when `subject` matches `pattern` (NATS rules). */
export function subjectMatches(pattern: string, subject: string): boolean {
  return tokensMatch(subjectTokens(pattern), subjectTokens(subject));
}
