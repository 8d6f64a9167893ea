/**
 * What server reflection answers from: descriptor files (the registered services' files and any
 * extra roots) with their transitive imports, looked up by file name, by fully-qualified symbol
 * and by extension. Pure: built from `DescFile` values, no I/O.
 */
import { createRegistry, toBinary, type DescFile, type Registry } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";

/** Lookups over a closed set of descriptor files. */
export interface DescriptorIndex {
  /** The file named `name` as imports name it (e.g. "turnout/v1/admin.proto"). */
  fileByName(name: string): DescFile | undefined;
  /** The file declaring `symbol`: a message, enum, service, extension, method or field. */
  fileContainingSymbol(symbol: string): DescFile | undefined;
  /** The file declaring extension `number` of message `typeName`. */
  fileContainingExtension(typeName: string, number: number): DescFile | undefined;
  /** Extension numbers of message `typeName` (maybe none); undefined when the message is unknown. */
  extensionNumbersOf(typeName: string): number[] | undefined;
}

/** `roots` and everything they import, transitively, each file once. */
function closeOverImports(roots: Iterable<DescFile>): DescFile[] {
  const seen = new Map<string, DescFile>();
  const visit = (file: DescFile): void => {
    if (seen.has(file.name)) return;
    seen.set(file.name, file);
    file.dependencies.forEach(visit);
  };
  for (const root of roots) visit(root);
  return [...seen.values()];
}

/** Builds the index over `roots` and their transitive imports. */
export function createDescriptorIndex(roots: Iterable<DescFile>): DescriptorIndex {
  const files = closeOverImports(roots);
  // `DescFile.name` drops the ".proto" suffix; reflection names files as imports do.
  const byName = new Map(files.map((f) => [f.proto.name, f]));
  const registry: Registry = createRegistry(...files);
  return {
    fileByName: (name) => byName.get(name),
    fileContainingSymbol(symbol) {
      const desc = registry.get(symbol);
      if (desc !== undefined) return desc.file;
      // Methods and fields are not registry types: look up the parent and the member's name.
      const dot = symbol.lastIndexOf(".");
      const parent = registry.get(symbol.slice(0, dot));
      const member = symbol.slice(dot + 1);
      if (parent?.kind === "service" && parent.methods.some((m) => m.name === member)) return parent.file;
      if (parent?.kind === "message" && parent.fields.some((f) => f.name === member)) return parent.file;
      return undefined;
    },
    fileContainingExtension(typeName, number) {
      const message = registry.getMessage(typeName);
      return message === undefined ? undefined : registry.getExtensionFor(message, number)?.file;
    },
    extensionNumbersOf(typeName) {
      if (registry.getMessage(typeName) === undefined) return undefined;
      const numbers: number[] = [];
      for (const desc of registry) {
        if (desc.kind === "extension" && desc.extendee.typeName === typeName) numbers.push(desc.number);
      }
      return numbers.sort((a, b) => a - b);
    },
  };
}

const encoded = new WeakMap<DescFile, Uint8Array>();

/** A file as serialized `google.protobuf.FileDescriptorProto` bytes (cached per file). */
function encodeFile(file: DescFile): Uint8Array {
  let bytes = encoded.get(file);
  if (bytes === undefined) {
    bytes = toBinary(FileDescriptorProtoSchema, file.proto);
    encoded.set(file, bytes);
  }
  return bytes;
}

/**
 * `file` then its transitive imports, encoded, for one reflection answer. Imports already in
 * `sent` (files this stream has answered before) are left out, as gRPC's own servers do; the
 * requested file itself is always included. Adds what it returns to `sent`.
 */
export function encodeWithImports(file: DescFile, sent: Set<string>): Uint8Array[] {
  const out = [encodeFile(file)];
  sent.add(file.name);
  for (const dep of closeOverImports(file.dependencies)) {
    if (sent.has(dep.name)) continue;
    sent.add(dep.name);
    out.push(encodeFile(dep));
  }
  return out;
}
