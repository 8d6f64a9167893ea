/**
 * A throwaway certificate authority for TLS tests, made with `openssl` in a temp dir: a CA, server
 * certificates for localhost / 127.0.0.1 signed by it, and client certificates for mTLS. Nothing
 * here is ever committed; `remove()` deletes the directory.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A certificate and its key, as files and PEM text. */
export interface CertPair {
  certFile: string;
  keyFile: string;
  cert: string;
  key: string;
}

/** A test CA: its certificate, and a way to sign more certificates with it. */
export interface TestCa {
  /** Directory every file lives in. */
  readonly dir: string;
  /** The CA certificate (PEM file and text), what clients and servers trust. */
  readonly caFile: string;
  readonly ca: string;
  /** A server certificate for `localhost`, `127.0.0.1` and `::1`, written to `name`.crt/.key. */
  server(name: string): CertPair;
  /** A client certificate with common name `cn`, written to `name`.crt/.key (mutual TLS). */
  client(name: string, cn?: string): CertPair;
  /** Deletes the directory. */
  remove(): void;
}

function openssl(dir: string, args: string[]): void {
  execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
}

/** Makes a CA (named `caName` in its subject) in `dir` (default: a new temp dir; it must exist). */
export function createTestCa(caName = "Turnout Test CA", dir = mkdtempSync(join(tmpdir(), "turnout-tls-"))): TestCa {
  const keyArgs = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  openssl(dir, ["req", "-x509", ...keyArgs, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", `/CN=${caName}`]);
  let serial = 1;
  const sign = (name: string, cn: string, ext: string): CertPair => {
    writeFileSync(join(dir, `${name}.ext`), ext);
    openssl(dir, ["req", ...keyArgs, "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=${cn}`]);
    openssl(dir, [
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      "ca.crt",
      "-CAkey",
      "ca.key",
      "-set_serial",
      String(serial++),
      "-days",
      "2",
      "-extfile",
      `${name}.ext`,
      "-out",
      `${name}.crt`,
    ]);
    const certFile = join(dir, `${name}.crt`);
    const keyFile = join(dir, `${name}.key`);
    return { certFile, keyFile, cert: readFileSync(certFile, "utf8"), key: readFileSync(keyFile, "utf8") };
  };
  const caFile = join(dir, "ca.crt");
  return {
    dir,
    caFile,
    ca: readFileSync(caFile, "utf8"),
    server: (name) => sign(name, "localhost", "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\nextendedKeyUsage=serverAuth\n"),
    client: (name, cn = name) => sign(name, cn, "extendedKeyUsage=clientAuth\n"),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** PEM files of {@link makeCertificates}. */
export interface TestCertificates {
  /** The CA certificate (trust this). */
  caFile: string;
  /** The server certificate (localhost, 127.0.0.1, ::1) and its key. */
  serverCertFile: string;
  serverKeyFile: string;
  /** A client certificate signed by the CA. */
  clientCertFile: string;
  clientKeyFile: string;
  /** The certificate of a CA nobody trusts. */
  otherCaFile: string;
}

/** A CA with a server and a client certificate in `dir`, plus an untrusted CA in `dir`/other. */
export function makeCertificates(dir: string): TestCertificates {
  const ca = createTestCa("turnout test CA", dir);
  const otherDir = join(dir, "other");
  mkdirSync(otherDir);
  const other = createTestCa("untrusted test CA", otherDir);
  const server = ca.server("server");
  const client = ca.client("client", "turnout-client");
  return {
    caFile: ca.caFile,
    serverCertFile: server.certFile,
    serverKeyFile: server.keyFile,
    clientCertFile: client.certFile,
    clientKeyFile: client.keyFile,
    otherCaFile: other.caFile,
  };
}
