import { badRequest, OIDCAuthError } from "./errors.js";

export interface BodyLimits {
  maxBytes: number;
  maxParams: number;
}

export const DEFAULT_BODY_LIMITS: BodyLimits = { maxBytes: 16 * 1024, maxParams: 32 };

function tooLarge(): OIDCAuthError {
  return new OIDCAuthError(413, "invalid_request", "The request body is too large.");
}

async function readText(request: Request, maxBytes: number): Promise<string> {
  const declared = request.headers.get("content-length");
  if (declared !== null && Number(declared) > maxBytes) throw tooLarge();
  if (!request.body) return "";
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > maxBytes) {
        await reader.cancel().catch(() => {});
        throw tooLarge();
      }
      chunks.push(value);
    }
  } catch (err) {
    if (err instanceof OIDCAuthError) throw err;
    throw badRequest("invalid_request", "The request body could not be read.");
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw badRequest("invalid_request", "The request body is not valid UTF-8.");
  }
}

/**
 * Reads a POST body as form parameters, bounded in size and count. Accepts
 * `application/x-www-form-urlencoded` and a flat JSON object of strings.
 */
export async function readForm(
  request: Request,
  limits: BodyLimits = DEFAULT_BODY_LIMITS,
): Promise<URLSearchParams> {
  const type = (request.headers.get("content-type") ?? "").split(";")[0]?.trim().toLowerCase();
  const text = await readText(request, limits.maxBytes);
  let params: URLSearchParams;
  if (type === "application/json") {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw badRequest("invalid_request", "The request body is not valid JSON.");
    }
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
      throw badRequest("invalid_request", "The request body must be a JSON object.");
    }
    params = new URLSearchParams();
    for (const [key, value] of Object.entries(parsed)) {
      if (typeof value !== "string") {
        throw badRequest("invalid_request", "Every parameter must be a string.");
      }
      params.append(key, value);
    }
  } else if (type === "application/x-www-form-urlencoded" || (type === "" && text === "")) {
    params = new URLSearchParams(text);
  } else {
    throw badRequest(
      "invalid_request",
      "Send the parameters as application/x-www-form-urlencoded.",
    );
  }
  let count = 0;
  for (const _ of params.keys()) {
    if (++count > limits.maxParams) throw badRequest("invalid_request", "Too many parameters.");
  }
  return params;
}

/**
 * One value of a parameter that must appear at most once (RFC 6749 §3.1), bounded in
 * length; undefined when absent or empty.
 */
export function singleParam(
  params: URLSearchParams,
  name: string,
  maxLength = 4096,
): string | undefined {
  const values = params.getAll(name);
  if (values.length > 1) {
    throw badRequest("invalid_request", `Parameter ${name} must not repeat.`);
  }
  const value = values[0];
  if (value === undefined || value === "") return undefined;
  if (value.length > maxLength)
    throw badRequest("invalid_request", `Parameter ${name} is too long.`);
  return value;
}
