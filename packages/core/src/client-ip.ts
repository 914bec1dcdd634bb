/**
 * The client address a rate limit counts against. A Fetch `Request` carries none: adapters
 * pass the socket's address, and a header is read only when configuration names one (a
 * proxy in front of the app sets it; without such a proxy a client could pick its own).
 */

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const HEX_GROUP = /^[0-9a-f]{1,4}$/;

/** The eight 16-bit groups of an IPv6 address, or undefined if it is not one. */
function ipv6Groups(text: string): number[] | undefined {
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const parse = (part: string): number[] | undefined => {
    if (part === "") return [];
    const groups: number[] = [];
    const pieces = part.split(":");
    for (const [i, piece] of pieces.entries()) {
      if (i === pieces.length - 1 && IPV4.test(piece)) {
        const [a, b, c, d] = piece.split(".").map(Number) as [number, number, number, number];
        groups.push((a << 8) | b, (c << 8) | d);
      } else if (HEX_GROUP.test(piece)) {
        groups.push(Number.parseInt(piece, 16));
      } else {
        return undefined;
      }
    }
    return groups;
  };
  const head = parse(halves[0] as string);
  const tail = halves.length === 2 ? parse(halves[1] as string) : [];
  if (!head || !tail) return undefined;
  if (halves.length === 1) return head.length === 8 ? head : undefined;
  const missing = 8 - head.length - tail.length;
  return missing >= 1 ? [...head, ...Array<number>(missing).fill(0), ...tail] : undefined;
}

/**
 * The key of an address: IPv4 as written; IPv4-mapped IPv6 as the IPv4 address; other
 * IPv6 addresses by their /64 network, since one subscriber usually holds a whole /64 and
 * could otherwise take a fresh address per request. Brackets, a zone and a port (as some
 * proxies write them) are dropped. Undefined for anything that is not an address.
 */
export function clientAddressKey(text: string): string | undefined {
  let address = text.trim().toLowerCase();
  const bracketed = /^\[([^\]]+)\](?::\d{1,5})?$/.exec(address);
  if (bracketed) address = bracketed[1] as string;
  else if (/^[\d.]+:\d{1,5}$/.test(address)) address = address.slice(0, address.indexOf(":"));
  address = address.replace(/%.*$/, "");
  if (IPV4.test(address)) return address;
  const groups = ipv6Groups(address);
  if (!groups) return undefined;
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    const [hi, lo] = [groups[6] as number, groups[7] as number];
    return `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
  }
  return `${groups
    .slice(0, 4)
    .map((g) => g.toString(16))
    .join(":")}::/64`;
}

/**
 * The client address of a request: from `header` when configuration names one and the
 * request has it (for a list such as X-Forwarded-For, its last entry: the address the
 * proxy itself saw), else the socket address the adapter passed. Undefined when neither
 * yields an address.
 */
export function clientAddressOf(
  request: Request,
  socketAddress: string | undefined,
  header: string | undefined,
): string | undefined {
  const fromHeader = header ? request.headers.get(header) : null;
  if (fromHeader) {
    const last = fromHeader.split(",").at(-1) ?? "";
    return clientAddressKey(last);
  }
  return socketAddress === undefined ? undefined : clientAddressKey(socketAddress);
}
