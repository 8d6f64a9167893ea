/**
 * gRPC server reflection (`grpc.reflection.v1` and `v1alpha`) for a Connect router, so grpcurl and
 * `buf curl --reflect` list and call its services with no proto files. Answers come from the
 * descriptors of the services registered on the same router (read on each stream, so services
 * registered after this call are included), the reflection files themselves, the error details
 * errors carry (turnout.v1.BadRequest, see src/errors.ts), and optional extra files. Reflection is
 * a bidi stream: it needs gRPC over HTTP/2 (h2c on our ports).
 */
import { create, type DescFile, type MessageInitShape } from "@bufbuild/protobuf";
import { Code, type ConnectRouter, type ServiceImpl } from "@connectrpc/connect";
import * as v1 from "../../../gen/grpc/reflection/v1/reflection_pb.js";
import * as v1alpha from "../../../gen/grpc/reflection/v1alpha/reflection_pb.js";
import { file_turnout_v1_error_details } from "../../../gen/turnout/v1/error_details_pb.js";
import { createDescriptorIndex, encodeWithImports, type DescriptorIndex } from "./descriptor-index.ts";

/** Path prefix of both reflection services, for handlers that dispatch by path. */
export const REFLECTION_PATH_PREFIX = "/grpc.reflection.";

/** Options of {@link registerReflection}. */
export interface ReflectionOptions {
  /** Descriptor files to answer for besides the registered services' files. Default: none. */
  files?: DescFile[];
}

type Request = v1.ServerReflectionRequest["messageRequest"];
type Answer = MessageInitShape<typeof v1.ServerReflectionResponseSchema>["messageResponse"];

/** What one stream answers from: the router's services now, indexed. */
interface View {
  services: string[];
  index: DescriptorIndex;
}

/** Registers `grpc.reflection.v1.ServerReflection` and its v1alpha twin on `router`. */
export function registerReflection(router: ConnectRouter, options: ReflectionOptions = {}): void {
  let cached: { handlers: number; view: View } | undefined;
  const view = (): View => {
    if (cached?.handlers !== router.handlers.length) {
      const services = [...new Map(router.handlers.map((h) => [h.service.typeName, h.service])).values()];
      const roots = [
        v1.file_grpc_reflection_v1_reflection,
        v1alpha.file_grpc_reflection_v1alpha_reflection,
        file_turnout_v1_error_details,
        ...services.map((s) => s.file),
        ...(options.files ?? []),
      ];
      cached = {
        handlers: router.handlers.length,
        view: { services: services.map((s) => s.typeName), index: createDescriptorIndex(roots) },
      };
    }
    return cached.view;
  };
  router.service(v1.ServerReflection, reflectionService(v1.ServerReflectionResponseSchema, view));
  // v1alpha's messages have the same fields and numbers as v1's; only the type names differ, so
  // the one implementation serves both, building responses with the v1alpha schema.
  router.service(
    v1alpha.ServerReflection,
    reflectionService(
      v1alpha.ServerReflectionResponseSchema as unknown as typeof v1.ServerReflectionResponseSchema,
      view,
    ) as unknown as ServiceImpl<typeof v1alpha.ServerReflection>,
  );
}

function reflectionService(
  responseSchema: typeof v1.ServerReflectionResponseSchema,
  view: () => View,
): ServiceImpl<typeof v1.ServerReflection> {
  return {
    async *serverReflectionInfo(requests) {
      const sent = new Set<string>(); // files this stream has sent, as clients cache them
      for await (const request of requests) {
        const messageResponse = answer(request.messageRequest, view(), sent);
        yield create(responseSchema, { validHost: request.host, originalRequest: request, messageResponse });
      }
    },
  };
}

/** The answer to one request, per the reflection spec; unknown names are NOT_FOUND errors in-band. */
function answer(request: Request, { services, index }: View, sent: Set<string>): Answer {
  const error = (code: Code, message: string): Answer => ({
    case: "errorResponse",
    value: { errorCode: code, errorMessage: message },
  });
  const files = (file: DescFile | undefined, what: string): Answer =>
    file === undefined
      ? error(Code.NotFound, `${what} not found`)
      : { case: "fileDescriptorResponse", value: { fileDescriptorProto: encodeWithImports(file, sent) } };
  switch (request.case) {
    case "listServices":
      return { case: "listServicesResponse", value: { service: services.map((name) => ({ name })) } };
    case "fileByFilename":
      return files(index.fileByName(request.value), `file "${request.value}"`);
    case "fileContainingSymbol":
      return files(index.fileContainingSymbol(request.value), `symbol "${request.value}"`);
    case "fileContainingExtension": {
      const { containingType, extensionNumber } = request.value;
      return files(
        index.fileContainingExtension(containingType, extensionNumber),
        `extension ${extensionNumber} of "${containingType}"`,
      );
    }
    case "allExtensionNumbersOfType": {
      const numbers = index.extensionNumbersOf(request.value);
      if (numbers === undefined) return error(Code.NotFound, `message type "${request.value}" not found`);
      return { case: "allExtensionNumbersResponse", value: { baseTypeName: request.value, extensionNumber: numbers } };
    }
    default:
      return error(Code.InvalidArgument, "the request sets no message_request");
  }
}
