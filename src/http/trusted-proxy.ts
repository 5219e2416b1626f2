/**
 * IP_TRUST_PROXY as a check of a connection's peer address, made by the library Fastify itself
 * uses for the client address (@fastify/proxy-addr: named ranges, CIDRs, IPv4-mapped IPv6
 * peers), so that the client address, forwarded headers and the connection caps agree on who is
 * a proxy.
 */
import proxyaddr from '@fastify/proxy-addr';

/** Whether a peer address passes a check (undefined: a socket already closed). */
export type TrustedPeer = (address: string | undefined) => boolean;

/** The proxies IP_TRUST_PROXY lists; `true` and `false` list none. */
export function listedProxies(trust: boolean | readonly string[]): TrustedPeer {
  if (typeof trust === 'boolean' || trust.length === 0) return () => false;
  const check = proxyaddr.compile([...trust]);
  return (address) => address !== undefined && check(address, 0);
}

/** Whether a peer's forwarded headers are believed: every peer with `true`, none with `false`, else the listed proxies. */
export function trustedPeer(trust: boolean | readonly string[]): TrustedPeer {
  return typeof trust === 'boolean' ? () => trust : listedProxies(trust);
}
