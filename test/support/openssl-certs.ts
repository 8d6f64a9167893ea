/**
 * A throw-away certificate authority for TLS tests, made with the `openssl` command in a directory
 * the test owns: a CA, a server certificate for 127.0.0.1 and localhost, and a client certificate
 * (for mutual TLS). P-256 keys, valid for one day; key files are written 0600. Nothing here is
 * ever committed: call it with a fresh temp directory and remove that directory afterwards.
 */
import { execFileSync } from "node:child_process";
import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** PEM files made by {@link makeCertificates}. */
export interface TestCertificates {
  /** The CA certificate (trust this). */
  caFile: string;
  /** The server certificate (SAN IP:127.0.0.1 and DNS:localhost). */
  serverCertFile: string;
  serverKeyFile: string;
  /** A client certificate signed by the CA (extended key usage clientAuth). */
  clientCertFile: string;
  clientKeyFile: string;
  /** A CA nobody trusts, to make a certificate the server must refuse. */
  otherCaFile: string;
}

function openssl(args: string[], cwd: string): void {
  execFileSync("openssl", args, { cwd, stdio: ["ignore", "ignore", "pipe"] });
}

const KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

function selfSigned(dir: string, name: string, cn: string): void {
  openssl(["req", "-x509", ...KEY, "-keyout", `${name}-key.pem`, "-out", `${name}.pem`, "-days", "1", "-subj", `/CN=${cn}`], dir);
}

function signed(dir: string, name: string, cn: string, extensions: string): void {
  writeFileSync(join(dir, `${name}.ext`), extensions);
  openssl(["req", ...KEY, "-keyout", `${name}-key.pem`, "-out", `${name}.csr`, "-subj", `/CN=${cn}`], dir);
  openssl(
    ["x509", "-req", "-in", `${name}.csr`, "-CA", "ca.pem", "-CAkey", "ca-key.pem", "-CAcreateserial"].concat([
      "-out",
      `${name}.pem`,
      "-days",
      "1",
      "-extfile",
      `${name}.ext`,
    ]),
    dir,
  );
  chmodSync(join(dir, `${name}-key.pem`), 0o600);
}

/** Makes the CA and certificates in `dir` (which must exist). */
export function makeCertificates(dir: string): TestCertificates {
  selfSigned(dir, "ca", "turnout test CA");
  selfSigned(dir, "other-ca", "untrusted test CA");
  signed(dir, "server", "127.0.0.1", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n");
  signed(dir, "client", "turnout-client", "extendedKeyUsage=clientAuth\n");
  chmodSync(join(dir, "ca-key.pem"), 0o600);
  return {
    caFile: join(dir, "ca.pem"),
    serverCertFile: join(dir, "server.pem"),
    serverKeyFile: join(dir, "server-key.pem"),
    clientCertFile: join(dir, "client.pem"),
    clientKeyFile: join(dir, "client-key.pem"),
    otherCaFile: join(dir, "other-ca.pem"),
  };
}
