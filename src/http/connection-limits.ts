/**
 * Caps on open client connections, applied as each TCP connection is accepted, before a byte of
 * it is read: per client address (SERVER_MAX_CONNECTIONS_PER_IP) and for all addresses together
 * (SERVER_MAX_CONNECTIONS). A connection over a cap is reset at once, so a flood of connections
 * that send half a header (each held until SERVER_HEADERS_TIMEOUT) cannot use up the process's
 * file descriptors: S3 sockets, upload files and health checks keep theirs.
 *
 * - The address is the TCP peer's (`socket.remoteAddress`), never X-Forwarded-For (no request has
 *   been read): behind a proxy it is the proxy's. Proxies listed in IP_TRUST_PROXY carry many
 *   clients and are not capped per address (their connections count in the total); with
 *   IP_TRUST_PROXY=true any peer may be one, so the per-address cap is off unless set.
 * - IPv6 addresses count per /64 (one host usually has a whole /64), as the rate limiter does;
 *   IPv4-mapped IPv6 addresses (`::ffff:192.0.2.1`) count as the IPv4 address.
 * - The last tenth of the total (at most 64 connections) is kept for addresses that have no
 *   connection open, such as a health checker or a new client: addresses that already hold
 *   connections (a flood from a few addresses, which the per-address cap alone does not stop
 *   once there are enough of them) cannot take it.
 * - By default the total is derived from the open-file limit (RLIMIT_NOFILE, which Node raises
 *   to the hard limit at start and cannot read itself: Linux's /proc/self/limits), see
 *   `defaultMaxConnections`.
 */
import { readFileSync } from 'node:fs';
import { isIPv4, isIPv6, type Server, type Socket } from 'node:net';
import type { FastifyBaseLogger } from 'fastify';
import type { Config } from '../config/index.js';
import { driverOf } from '../stores/drivers.js';

/** Descriptors kept for everything but client connections: Node itself, logs, Redis, hooks, DNS, health checks. */
export const RESERVED_FDS = 256;
/**
 * The default total however high the open-file limit: 10 000 connections holding up to
 * SERVER_MAX_HEADER_SIZE of headers each (16 KiB by default) plus Node's per-socket state stay
 * within a few hundred MiB, and far more uploads than one instance's network moves usefully at once.
 */
export const MAX_DEFAULT_CONNECTIONS = 10_000;
/** The default total however low the open-file limit (a warning says to raise the limit). */
export const MIN_DEFAULT_CONNECTIONS = 64;
/** The reserve for addresses without an open connection: a tenth of the total, at most this. */
const MAX_RESERVE = 64;
/** At most one log line about refused connections per this many milliseconds (the metrics count each). */
const LOG_INTERVAL = 10_000;

export type RefusalReason = 'per_address' | 'total';

export interface ConnectionLimits {
  /** Open connections at most, all addresses together; 0: no limit. */
  total: number;
  /** Open connections at most from one address (IPv6: /64); 0: no limit. */
  perAddress: number;
  /** The last `reserve` connections of the total go to addresses with none open. */
  reserve: number;
  /** The process's open-file limit, when known. */
  openFileLimit: number | undefined;
  /** A setting that leaves too few descriptors, said at start. */
  warning?: string;
}

/** The soft "Max open files" of /proc/self/limits; undefined when unknown, Infinity when unlimited. */
export function parseOpenFileLimit(limits: string): number | undefined {
  const soft = /^Max open files\s+(\S+)/m.exec(limits)?.[1];
  if (soft === undefined) return undefined;
  if (soft === 'unlimited') return Number.POSITIVE_INFINITY;
  const n = Number(soft);
  return Number.isInteger(n) && n > 0 ? n : undefined;
}

/** This process's open-file limit (Linux); undefined elsewhere. */
export function openFileLimit(): number | undefined {
  try {
    return parseOpenFileLimit(readFileSync('/proc/self/limits', 'utf8'));
  } catch {
    return undefined;
  }
}

/** Descriptors the server may need besides client connections: RESERVED_FDS plus every s3 location's STORAGE_<LOC>_MAX_SOCKETS. */
export function reservedDescriptors(config: Pick<Config, 'locations'>): number {
  return RESERVED_FDS + config.locations.reduce((sum, l) => sum + driverOf(l).capabilities.sockets(l), 0);
}

/**
 * SERVER_MAX_CONNECTIONS when unset: half of what the open-file limit leaves after the reserved
 * descriptors (a connection that uploads to or downloads from a local location, or spools a
 * checksum body, holds a file as well as its socket), between MIN_ and MAX_DEFAULT_CONNECTIONS.
 */
export function defaultMaxConnections(fdLimit: number | undefined, reserved: number): number {
  if (fdLimit === undefined || !Number.isFinite(fdLimit)) return MAX_DEFAULT_CONNECTIONS;
  return Math.max(MIN_DEFAULT_CONNECTIONS, Math.min(MAX_DEFAULT_CONNECTIONS, Math.floor((fdLimit - reserved) / 2)));
}

/** The caps in force: the settings, the derived default total, and a warning when they leave too few descriptors. */
export function connectionLimits(
  config: Pick<Config, 'maxConnections' | 'maxConnectionsPerIp' | 'locations'>,
  /** The process's open-file limit (`openFileLimit()`); undefined: unknown. */
  fdLimit: number | undefined,
): ConnectionLimits {
  const reserved = reservedDescriptors(config);
  const total = config.maxConnections ?? defaultMaxConnections(fdLimit, reserved);
  const limits: ConnectionLimits = {
    total,
    perAddress: config.maxConnectionsPerIp,
    reserve: total > 0 ? Math.min(MAX_RESERVE, Math.ceil(total / 10)) : 0,
    openFileLimit: fdLimit,
  };
  if (fdLimit !== undefined && Number.isFinite(fdLimit)) {
    const spare = fdLimit - reserved;
    const fix = 'raise the limit (ulimit -n, systemd LimitNOFILE, docker run --ulimit nofile=...)';
    if (config.maxConnections !== undefined && config.maxConnections > spare) {
      limits.warning = `SERVER_MAX_CONNECTIONS=${config.maxConnections} is more than the ${Math.max(0, spare)} file descriptors the open-file limit (${fdLimit}) leaves after ${reserved} for S3 sockets (STORAGE_<LOC>_MAX_SOCKETS), files and health checks: a flood of connections can still exhaust them; lower it or ${fix}`;
    } else if (config.maxConnections === undefined && spare / 2 < MIN_DEFAULT_CONNECTIONS) {
      limits.warning = `The open-file limit (${fdLimit}) leaves few file descriptors after ${reserved} for S3 sockets (STORAGE_<LOC>_MAX_SOCKETS), files and health checks; SERVER_MAX_CONNECTIONS defaults to ${total}: ${fix}, or lower STORAGE_<LOC>_MAX_SOCKETS`;
    }
  }
  return limits;
}

/** The key one address counts under: IPv4 as is, IPv4-mapped IPv6 as IPv4, other IPv6 by /64. */
export function addressKey(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
  if (mapped && isIPv4(mapped)) return mapped;
  const plain = address.split('%')[0] ?? address;
  if (!isIPv6(plain)) return address;
  return `${ipv6Groups(plain).slice(0, 4).join(':')}::/64`;
}

/** The eight 16-bit groups of a valid IPv6 address, in hex without leading zeros. */
function ipv6Groups(address: string): string[] {
  let text = address.toLowerCase();
  // A trailing dotted IPv4 part (::ffff:1.2.3.4, 64:ff9b::1.2.3.4) is two groups.
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  return groups.map((g) => Number.parseInt(g, 16).toString(16));
}

/** Counts open connections per address and in total, and resets those over a cap as they arrive. */
export class ConnectionGate {
  private readonly byAddress = new Map<string, number>();
  private count = 0;
  private readonly refusedSinceLog: Record<RefusalReason, number> = { per_address: 0, total: 0 };
  private logTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly limits: ConnectionLimits,
    private readonly options: {
      /** Addresses not capped per address (IP_TRUST_PROXY's proxies); they count in the total. */
      exempt?: (address: string) => boolean;
      onRefused?: (reason: RefusalReason) => void;
      log?: Pick<FastifyBaseLogger, 'warn'>;
    } = {},
  ) {}

  /** Open client connections now. */
  get open(): number {
    return this.count;
  }

  /** Apply the caps to every connection `server` accepts (before its HTTP parser reads anything). */
  attach(server: Server): void {
    server.on('connection', (socket: Socket) => this.admit(socket));
    server.once('close', () => this.stopLogging());
  }

  /** Count `socket`, or reset it when a cap is reached; false when it was refused. */
  admit(socket: Socket): boolean {
    const address = socket.remoteAddress;
    // Gone before it was handed over: nothing to count.
    if (address === undefined) {
      socket.destroy();
      return false;
    }
    const key = addressKey(address);
    const mine = this.byAddress.get(key) ?? 0;
    const { total, perAddress, reserve } = this.limits;
    let refused: RefusalReason | undefined;
    if (perAddress > 0 && mine >= perAddress && !this.options.exempt?.(address)) refused = 'per_address';
    else if (total > 0 && (this.count >= total || (mine > 0 && this.count >= total - reserve))) refused = 'total';
    if (refused) {
      // An RST: the descriptor is freed now, and the client learns at once.
      socket.resetAndDestroy();
      this.options.onRefused?.(refused);
      this.noteRefusal(refused, key, mine);
      return false;
    }
    this.count++;
    this.byAddress.set(key, mine + 1);
    socket.once('close', () => {
      this.count--;
      const left = (this.byAddress.get(key) ?? 1) - 1;
      if (left > 0) this.byAddress.set(key, left);
      else this.byAddress.delete(key);
    });
    return true;
  }

  /** The first refusal is logged at once; later ones are summed up at most every LOG_INTERVAL. */
  private noteRefusal(reason: RefusalReason, key: string, fromAddress: number): void {
    if (this.logTimer) {
      this.refusedSinceLog[reason]++;
      return;
    }
    const { total, perAddress } = this.limits;
    this.options.log?.warn(
      { reason, address: key, open: this.count, openFromAddress: fromAddress, maxConnections: total, maxConnectionsPerIp: perAddress },
      reason === 'per_address'
        ? `connection refused: ${fromAddress} connections from ${key} are open (SERVER_MAX_CONNECTIONS_PER_IP=${perAddress}); further refusals are counted in tus_connections_refused_total`
        : `connection refused: ${this.count} connections are open (SERVER_MAX_CONNECTIONS=${total}, the last ${this.limits.reserve} kept for addresses with none open); further refusals are counted in tus_connections_refused_total`,
    );
    this.scheduleSummary();
  }

  private scheduleSummary(): void {
    this.logTimer = setTimeout(() => {
      this.logTimer = undefined;
      const { per_address, total } = this.refusedSinceLog;
      if (per_address + total === 0) return;
      this.options.log?.warn(
        { refused: { per_address, total }, open: this.count, seconds: LOG_INTERVAL / 1000 },
        `${per_address + total} connections refused in the last ${LOG_INTERVAL / 1000} s (SERVER_MAX_CONNECTIONS_PER_IP: ${per_address}, SERVER_MAX_CONNECTIONS: ${total})`,
      );
      this.refusedSinceLog.per_address = 0;
      this.refusedSinceLog.total = 0;
      this.scheduleSummary();
    }, LOG_INTERVAL).unref();
  }

  private stopLogging(): void {
    clearTimeout(this.logTimer);
    this.logTimer = undefined;
  }
}
