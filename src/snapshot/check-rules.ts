/**
 * Field rules that the snapshot check shares with the control plane's input validation
 * (control/admin/validate.ts, control/config/): each rule and its message lives here once. Pure.
 */

/** Why `url` is not a usable node base URL, or undefined when it is. */
export function baseUrlProblem(url: string): string | undefined {
  if (url === "") return "must not be empty";
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return `${JSON.stringify(url)} is not a valid URL`;
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") return `${JSON.stringify(url)} must use http or https`;
  if (parsed.search !== "" || parsed.hash !== "") return `${JSON.stringify(url)} must not have a query or fragment`;
  if (parsed.username !== "" || parsed.password !== "") return `${JSON.stringify(url)} must not carry credentials`;
  return undefined;
}

/**
 * A uniqueness rule over one list, fed item by item: answers `duplicate <what> "k" (also
 * <list>[j])` for a key an earlier item has (without the "also" part when `list` is omitted),
 * else undefined. Empty keys are neither reported nor remembered (the emptiness rule names them).
 */
export function uniqueKeys(what: string, list?: string): (key: string, index: number) => string | undefined {
  const seen = new Map<string, number>();
  return (key, index) => {
    if (key === "") return undefined;
    const first = seen.get(key);
    if (first === undefined) {
      seen.set(key, index);
      return undefined;
    }
    return `duplicate ${what} ${JSON.stringify(key)}${list === undefined ? "" : ` (also ${list}[${first}])`}`;
  };
}

/** Why a split's weights (whole percents) are not a whole, or undefined when they sum to 100. */
export function weightsSumProblem(total: number): string | undefined {
  return total === 100 ? undefined : `weights must sum to 100, got ${total}`;
}

/** Why a route has no variant to serve, or undefined when it has one. */
export function variantsProblem(count: number): string | undefined {
  return count === 0 ? "must have at least one variant" : undefined;
}
