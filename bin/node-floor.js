/**
 * The oldest Node.js that runs Turnout's TypeScript sources unflagged (built-in type stripping:
 * 22.18 on the 22 line, 23.6 after it). Plain JavaScript, so that an older Node can load it and
 * say so in one line instead of failing on the first `.ts` import.
 */

/** The floor, as `engines.node` in package.json states it. */
export const NODE_FLOOR = "^22.18.0 || >=23.6.0";

/**
 * The one-line problem with running on Node `version` ("v20.20.2"), or undefined when it is at or
 * above the floor.
 * @param {string} version
 * @returns {string | undefined}
 */
export function nodeFloorProblem(version) {
  const [major, minor] = version.replace(/^v/, "").split(".").map(Number);
  const ok = major > 23 || (major === 23 && minor >= 6) || (major === 22 && minor >= 18);
  if (ok) return undefined;
  return `turnout needs Node.js 22.18 or newer (this is ${version}); \`npm ci\` in the repository installs Node 24 for npm start and npm test`;
}
