/**
 * Where the URLs of new uploads (`Location`) point when PUBLIC_URL is unset: the request's
 * `Host`, or what a trusted proxy forwarded (`Forwarded`'s host and proto, else
 * `X-Forwarded-Host` and `-Proto`; of several entries the last, the one the nearest proxy
 * wrote). `Location` is copied from these, so only a host name or IP literal with an optional
 * port is accepted (`Host: evil.example/../x` would send the client's next requests
 * elsewhere), and only `http` or `https`; anything else is refused before anything is created.
 * A proxy is trusted by its address (IP_TRUST_PROXY), never by what the request says.
 */
import { isIPv6 } from 'node:net';
import type { TrustedPeer } from '../http/trusted-proxy.js';
import { contextOfWeb } from './web-request.js';

/** One DNS label (underscores too: container and service names have them). */
const LABEL = /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/;

/** `host[:port]`: a host name (or IPv4 address) or a bracketed IPv6 address, and a port of 1 to 5 digits up to 65535. */
export function isValidHost(value: string): boolean {
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]]+))(?::(\d{1,5}))?$/.exec(value);
  if (!match) return false;
  const [, ipv6, name, port] = match;
  if (port !== undefined && Number(port) > 65535) return false;
  if (ipv6 !== undefined) return isIPv6(ipv6);
  const labels = (name as string).replace(/\.$/, '').split('.');
  if ((name as string).length > 254 || !labels.every((label) => LABEL.test(label))) return false;
  // A name whose last label is numeric is an IPv4 address to URL parsers (WHATWG): 1.2.3.4.5,
  // 256.1.1.1 and 999.1.1.1 are then invalid, and a Location made of them unusable.
  return URL.canParse(`http://${value}/`);
}

export interface OriginRequest {
  headers: Record<string, string | string[] | undefined>;
  /** Node keeps the first of several Host headers in `headers`; these show them all. */
  rawHeaders?: readonly string[];
  socket: { remoteAddress?: string | undefined; encrypted?: boolean };
}

/** The request's `Host`, or why it cannot be used: undefined when it is a valid one (or absent and not needed). */
export function hostProblem(request: OriginRequest, required: boolean): string | undefined {
  const host = request.headers.host;
  const hosts = request.rawHeaders?.filter((name, i) => i % 2 === 0 && name.toLowerCase() === 'host').length ?? 0;
  // RFC 9112 section 3.2: a request with more than one Host is answered 400.
  if (hosts > 1) return `The request has ${hosts} Host headers; send one`;
  if (host === undefined && !required) return undefined;
  if (typeof host === 'string' && isValidHost(host)) return undefined;
  return host === undefined || host === ''
    ? 'The request has no Host header, which the URL of a new upload is made of; send Host (or set PUBLIC_URL on the server)'
    : `Host ${JSON.stringify(host)} is not a host name or IP address with an optional port (such as uploads.example.com:8443 or [::1]); nothing was done`;
}

/** `scheme://host[:port]` of this request, or a message saying which header is wrong (answered 400). */
export function requestOrigin(request: OriginRequest, trusted: TrustedPeer): { origin: string } | { problem: string } {
  const problem = hostProblem(request, true);
  if (problem) return { problem };
  let host = request.headers.host as string;
  let proto = request.socket.encrypted ? 'https' : 'http';
  if (trusted(request.socket.remoteAddress)) {
    const forwarded = lastForwarded(single(request.headers.forwarded));
    const xHost = lastEntry(single(request.headers['x-forwarded-host']));
    const xProto = lastEntry(single(request.headers['x-forwarded-proto']));
    const [hostName, forwardedHost] = forwarded.host !== undefined ? ['Forwarded host', forwarded.host] : ['X-Forwarded-Host', xHost];
    const [protoName, forwardedProto] =
      forwarded.proto !== undefined ? ['Forwarded proto', forwarded.proto] : ['X-Forwarded-Proto', xProto];
    if (forwardedHost !== undefined) {
      if (!isValidHost(forwardedHost)) {
        return {
          problem: `${hostName} ${JSON.stringify(forwardedHost)} (from a trusted proxy, IP_TRUST_PROXY) is not a host name or IP address with an optional port; nothing was done`,
        };
      }
      host = forwardedHost;
    }
    if (forwardedProto !== undefined) {
      const lower = forwardedProto.toLowerCase();
      if (lower !== 'http' && lower !== 'https') {
        return {
          problem: `${protoName} ${JSON.stringify(forwardedProto)} (from a trusted proxy, IP_TRUST_PROXY) is neither http nor https; nothing was done`,
        };
      }
      proto = lower;
    }
  }
  return { origin: `${proto}://${host}` };
}

const single = (value: string | string[] | undefined) => (Array.isArray(value) ? value.join(',') : value);

/** The last comma-separated entry (the nearest proxy's), or undefined when there is none. */
function lastEntry(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  return value.split(',').pop()?.trim();
}

/** host and proto of the last element of an RFC 7239 `Forwarded` header (values may be quoted). */
function lastForwarded(value: string | undefined): { host?: string; proto?: string } {
  const element = lastEntry(value);
  if (!element) return {};
  const found: { host?: string; proto?: string } = {};
  for (const pair of element.split(';')) {
    const at = pair.indexOf('=');
    if (at < 0) continue;
    const key = pair.slice(0, at).trim().toLowerCase();
    let text = pair.slice(at + 1).trim();
    if (text.startsWith('"') && text.endsWith('"') && text.length >= 2) text = text.slice(1, -1).replace(/\\(.)/g, '$1');
    if (key === 'host' || key === 'proto') found[key] = text;
  }
  return found;
}

/** The origin of a web Request handed to @tus/server, for its `Location` (`generateUrl`). */
export function originOf(request: Request): string | undefined {
  return contextOfWeb(request)?.origin;
}
