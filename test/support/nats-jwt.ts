/**
 * NATS operator mode for tests: an operator, an account with JetStream (and the system account
 * JetStream needs) and users, as signed JWTs
 * (nats-io/jwt v2 claims, ed25519-nkey signatures made with the client's nkeys), the nats-server
 * config that trusts them (a memory resolver preloaded with the accounts), and users' creds files
 * in the format `nsc generate creds` writes.
 */
import { createHash } from "node:crypto";
import { nkeys } from "@nats-io/transport-node";

type KeyPair = ReturnType<typeof nkeys.createUser>;

const b64 = (value: string | Uint8Array) => Buffer.from(value).toString("base64url");

/** A signed JWT of `claims` (issuer `signer`, subject `subject`). */
function signJwt(signer: KeyPair, subject: string, name: string, nats: Record<string, unknown>): string {
  const header = b64(JSON.stringify({ typ: "JWT", alg: "ed25519-nkey" }));
  const claims: Record<string, unknown> = {
    iat: Math.floor(Date.now() / 1000),
    iss: signer.getPublicKey(),
    name,
    sub: subject,
    nats,
  };
  claims.jti = createHash("sha256").update(JSON.stringify(claims)).digest("base64url");
  const body = `${header}.${b64(JSON.stringify(claims))}`;
  return `${body}.${b64(signer.sign(new TextEncoder().encode(body)))}`;
}

/** An operator and one account with JetStream, trusted by the config {@link NatsOperator.serverConfig} answers. */
export interface NatsOperator {
  /** nats-server config text: `operator`, memory resolver preloaded with the account. */
  serverConfig(): string;
  /** A creds file's content for a new user `name` of the account, with optional subject permissions. */
  userCreds(name: string, permissions?: { publish: string[]; subscribe: string[] }): string;
}

/** Creates the operator and its account. */
export function createNatsOperator(): NatsOperator {
  const operator = nkeys.createOperator();
  const account = nkeys.createAccount();
  const operatorJwt = signJwt(operator, operator.getPublicKey(), "test-operator", { type: "operator", version: 2 });
  const unlimited = { subs: -1, data: -1, payload: -1, imports: -1, exports: -1, wildcards: true, conn: -1, leaf: -1 };
  const jetstream = { mem_storage: -1, disk_storage: -1, streams: -1, consumer: -1 };
  const accountJwt = signJwt(operator, account.getPublicKey(), "TURNOUT", {
    type: "account",
    version: 2,
    limits: { ...unlimited, ...jetstream },
  });
  // JetStream needs a system account
  const system = nkeys.createAccount();
  const systemJwt = signJwt(operator, system.getPublicKey(), "SYS", { type: "account", version: 2, limits: unlimited });
  return {
    serverConfig: () =>
      `operator: ${operatorJwt}\nsystem_account: ${system.getPublicKey()}\nresolver: MEMORY\n` +
      `resolver_preload: {\n  ${account.getPublicKey()}: ${accountJwt}\n  ${system.getPublicKey()}: ${systemJwt}\n}\n`,
    userCreds(name, permissions) {
      const user = nkeys.createUser();
      const jwt = signJwt(account, user.getPublicKey(), name, {
        type: "user",
        version: 2,
        subs: -1,
        data: -1,
        payload: -1,
        pub: permissions ? { allow: permissions.publish } : {},
        sub: permissions ? { allow: permissions.subscribe } : {},
      });
      const seed = new TextDecoder().decode(user.getSeed());
      return `-----BEGIN NATS USER JWT-----\n${jwt}\n------END NATS USER JWT------\n\n************************* IMPORTANT *************************\nNKEY Seed printed below can be used to sign and prove identity.\nNKEYs are sensitive and should be treated as secrets.\n\n-----BEGIN USER NKEY SEED-----\n${seed}\n------END USER NKEY SEED------\n\n*************************************************************\n`;
    },
  };
}
