/**
 * nats-server configuration text for tests (and the example in docs/distributed.md): one account
 * with JetStream and users with passwords, nkeys or tokens and their subject permissions, and
 * optionally TLS (with `verify: true`, clients must present a certificate signed by the CA).
 */

/** A user of {@link natsAuthConfig}: `user` + `password`, or `nkey` (a public key). */
export interface NatsConfigUser {
  user?: string;
  password?: string;
  /** Public nkey (`U…`) of a user that authenticates with its seed. */
  nkey?: string;
  /** Subjects it may publish to and subscribe to. Default: everything. */
  permissions?: { publish: string[]; subscribe: string[] };
}

/** Options of {@link natsAuthConfig}. */
export interface NatsAuthConfigOptions {
  /** Account name. Default "TURNOUT". */
  account?: string;
  users: NatsConfigUser[];
  /** TLS files of the server; `verify` asks clients for a certificate. Default: no TLS. */
  tls?: { certFile: string; keyFile: string; caFile: string; verify?: boolean };
}

const quote = (s: string) => JSON.stringify(s);
const list = (items: string[], indent: string) => `[\n${items.map((s) => `${indent}  ${quote(s)}`).join("\n")}\n${indent}]`;

function userBlock(u: NatsConfigUser, indent: string): string {
  const lines: string[] = [];
  if (u.user !== undefined) lines.push(`user: ${quote(u.user)}`);
  if (u.password !== undefined) lines.push(`password: ${quote(u.password)}`);
  if (u.nkey !== undefined) lines.push(`nkey: ${quote(u.nkey)}`);
  if (u.permissions !== undefined) {
    const i = `${indent}    `;
    lines.push(
      `permissions: {\n${i}publish: { allow: ${list(u.permissions.publish, i)} }\n${i}subscribe: { allow: ${list(u.permissions.subscribe, i)} }\n${indent}  }`,
    );
  }
  return `${indent}{\n${lines.map((l) => `${indent}  ${l}`).join("\n")}\n${indent}}`;
}

/** The configuration text. */
export function natsAuthConfig(options: NatsAuthConfigOptions): string {
  const users = options.users.map((u) => userBlock(u, "      ")).join("\n");
  let text = `accounts {\n  ${options.account ?? "TURNOUT"} {\n    jetstream: enabled\n    users: [\n${users}\n    ]\n  }\n}\n`;
  if (options.tls !== undefined) {
    const { certFile, keyFile, caFile, verify } = options.tls;
    text += `tls {\n  cert_file: ${quote(certFile)}\n  key_file: ${quote(keyFile)}\n  ca_file: ${quote(caFile)}\n  verify: ${verify === true}\n}\n`;
  }
  return text;
}

/** The Markdown table of docs/distributed.md: per role, the subjects it may publish and subscribe to. */
export function natsPermissionTable(roles: Record<string, { publish: string[]; subscribe: string[] }>): string {
  const cell = (subjects: string[]) => subjects.map((s) => `\`${s}\``).join("<br>");
  const rows = Object.entries(roles).map(([role, p]) => `| ${role} | ${cell(p.publish)} | ${cell(p.subscribe)} |`);
  return ["| role | may publish to | may subscribe to |", "|---|---|---|", ...rows].join("\n");
}
