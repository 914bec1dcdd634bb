/**
 * The client address of a request being served (the key rate limits count against), kept
 * beside the request for the handlers that bound something per client. A Fetch `Request`
 * carries none of its own; `handleEndpoint` records it.
 */
const clients = new WeakMap<Request, string>();

export function recordClient(request: Request, client: string | undefined): void {
  if (client !== undefined) clients.set(request, client);
}

/** The request's client address key, or "" when it has none. */
export function clientOf(request: Request): string {
  return clients.get(request) ?? "";
}
