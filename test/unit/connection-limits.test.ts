/** SERVER_MAX_CONNECTIONS and _PER_IP: the settings, the derived default, and the gate's decisions. */
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import t from 'tap';
import { parseConfig } from '../../src/config/index.js';
import {
  addressKey,
  ConnectionGate,
  type ConnectionLimits,
  connectionLimits,
  defaultMaxConnections,
  parseOpenFileLimit,
  type RefusalReason,
} from '../../src/http/connection-limits.js';
import { listedProxies } from '../../src/http/trusted-proxy.js';
import { configProblems } from '../helpers/config.js';

const PROC_LIMITS = `Limit                     Soft Limit           Hard Limit           Units
Max cpu time              unlimited            unlimited            seconds
Max open files            20000                20000                files
Max locked memory         8388608              8388608              bytes
`;

t.test('the open-file limit from /proc/self/limits', async (t) => {
  t.equal(parseOpenFileLimit(PROC_LIMITS), 20000);
  t.equal(parseOpenFileLimit(PROC_LIMITS.replace('20000                20000', 'unlimited            unlimited')), Infinity);
  t.equal(parseOpenFileLimit('Max cpu time unlimited'), undefined);
});

t.test('settings: defaults, 0 to turn a cap off, and the per-address default behind IP_TRUST_PROXY=true', async (t) => {
  const c = parseConfig({});
  t.equal(c.maxConnections, undefined, 'unset: derived at start');
  t.equal(c.maxConnectionsPerIp, 256);
  t.equal(parseConfig({ SERVER_MAX_CONNECTIONS: '0', SERVER_MAX_CONNECTIONS_PER_IP: '0' }).maxConnections, 0);
  t.equal(parseConfig({ SERVER_MAX_CONNECTIONS_PER_IP: '0' }).maxConnectionsPerIp, 0);
  t.equal(parseConfig({ SERVER_MAX_CONNECTIONS: '5000' }).maxConnections, 5000);
  t.equal(parseConfig({ IP_TRUST_PROXY: 'true' }).maxConnectionsPerIp, 0, 'any peer may be a proxy: off unless set');
  t.equal(parseConfig({ IP_TRUST_PROXY: 'true', SERVER_MAX_CONNECTIONS_PER_IP: '1000' }).maxConnectionsPerIp, 1000);
  t.equal(parseConfig({ IP_TRUST_PROXY: '10.0.0.0/8' }).maxConnectionsPerIp, 256, 'with a list the listed proxies are exempt instead');
  t.match(configProblems({ SERVER_MAX_CONNECTIONS: '-5' }), [/^SERVER_MAX_CONNECTIONS="-5": expected a whole number from 0/]);
  t.match(configProblems({ SERVER_MAX_CONNECTIONS_PER_IP: 'many' }), [/^SERVER_MAX_CONNECTIONS_PER_IP="many": expected a whole number/]);
});

t.test('the default total: half of what the open-file limit leaves, between 64 and 10000', async (t) => {
  const local = parseConfig({});
  const s3 = parseConfig({ STORAGE_LOCATIONS: 's3', STORAGE_S3_DRIVER: 's3', STORAGE_S3_BUCKET: 'b', STORAGE_S3_REGION: 'us-east-1' });
  t.equal(defaultMaxConnections(20000, 256), 9872);
  t.equal(connectionLimits(local, 20000).total, 9872, 'local: 256 descriptors kept');
  t.equal(connectionLimits(s3, 20000).total, 9622, 's3: its 500 sockets kept as well');
  t.equal(connectionLimits(local, 1_048_576).total, 10_000, 'capped at 10000');
  t.equal(connectionLimits(local, undefined).total, 10_000, 'limit unknown (not Linux)');
  t.equal(connectionLimits(local, Infinity).total, 10_000);
  t.equal(connectionLimits(local, 4096).total, 1920);
  t.equal(connectionLimits(local, 20000).reserve, 64, 'the reserve: a tenth, at most 64');
  t.equal(connectionLimits(parseConfig({ SERVER_MAX_CONNECTIONS: '12' }), 20000).reserve, 2);
  t.equal(connectionLimits(parseConfig({ SERVER_MAX_CONNECTIONS: '0' }), 20000).reserve, 0);
  t.equal(connectionLimits(local, 20000).warning, undefined);

  const low = connectionLimits(s3, 1024);
  t.equal(low.total, 134);
  t.equal(low.warning, undefined, '134 connections is little but works');
  const tiny = connectionLimits(s3, 800);
  t.equal(tiny.total, 64);
  t.match(tiny.warning, /open-file limit \(800\) leaves few file descriptors .* raise the limit \(ulimit -n/);
  const over = connectionLimits(parseConfig({ SERVER_MAX_CONNECTIONS: '50000' }), 20000);
  t.equal(over.total, 50000, 'a setting is kept');
  t.match(over.warning, /^SERVER_MAX_CONNECTIONS=50000 is more than the 19744 file descriptors the open-file limit \(20000\) leaves/);
});

t.test('addresses: IPv4 as is, IPv4-mapped as IPv4, IPv6 by /64', async (t) => {
  t.equal(addressKey('192.0.2.7'), '192.0.2.7');
  t.equal(addressKey('::ffff:192.0.2.7'), '192.0.2.7');
  t.equal(addressKey('2001:db8:1:2:aaaa:bbbb:cccc:dddd'), '2001:db8:1:2::/64');
  t.equal(addressKey('2001:0db8:0001:0002::1'), '2001:db8:1:2::/64', 'leading zeros');
  t.equal(addressKey('2001:db8::1'), '2001:db8:0:0::/64', 'compressed');
  t.equal(addressKey('::1'), '0:0:0:0::/64');
  t.equal(addressKey('fe80::1%eth0'), 'fe80:0:0:0::/64', 'zone dropped');
  t.equal(addressKey('64:ff9b::192.0.2.7'), '64:ff9b:0:0::/64');
});

t.test("IP_TRUST_PROXY's listed proxies", async (t) => {
  const trusted = listedProxies(['10.0.0.0/8', '192.0.2.1', 'loopback', '2001:db8::/32']);
  t.ok(trusted('10.1.2.3'));
  t.ok(trusted('::ffff:10.1.2.3'));
  t.ok(trusted('192.0.2.1'));
  t.notOk(trusted('192.0.2.2'));
  t.ok(trusted('127.0.0.5'));
  t.ok(trusted('::1'));
  t.ok(trusted('2001:db8:ffff::1'));
  t.notOk(trusted('2001:db9::1'));
  t.notOk(listedProxies(true)('10.1.2.3'), 'true: no list');
  t.notOk(listedProxies(false)('127.0.0.1'));
});

class FakeSocket extends EventEmitter {
  reset = false;
  constructor(readonly remoteAddress: string | undefined) {
    super();
  }
  resetAndDestroy(): this {
    this.reset = true;
    return this;
  }
  destroy(): this {
    return this;
  }
  close(): void {
    this.emit('close');
  }
}

function gate(limits: Partial<ConnectionLimits>, exempt?: (a: string) => boolean) {
  const refused: RefusalReason[] = [];
  const logged: string[] = [];
  const g = new ConnectionGate(
    { total: 0, perAddress: 0, reserve: 0, openFileLimit: undefined, ...limits },
    {
      ...(exempt ? { exempt } : {}),
      onRefused: (r) => refused.push(r),
      log: { warn: (_o: unknown, msg?: string) => logged.push(String(msg)) } as never,
    },
  );
  const open = (address: string | undefined) => {
    const s = new FakeSocket(address);
    const admitted = g.admit(s as unknown as Socket);
    return { s, admitted };
  };
  return { g, open, refused, logged };
}

t.test('per address: the cap, counted down on close; trusted proxies exempt; IPv6 neighbours share a /64', async (t) => {
  const { g, open, refused, logged } = gate({ perAddress: 2 }, listedProxies(['10.0.0.1']));
  const a1 = open('192.0.2.1');
  const a2 = open('192.0.2.1');
  const a3 = open('::ffff:192.0.2.1');
  t.same([a1.admitted, a2.admitted, a3.admitted], [true, true, false]);
  t.ok(a3.s.reset, 'reset, not left open');
  t.same(refused, ['per_address']);
  t.equal(logged.length, 1);
  t.match(logged[0], 'connection refused: 2 connections from 192.0.2.1 are open (SERVER_MAX_CONNECTIONS_PER_IP=2)');
  t.ok(open('192.0.2.2').admitted, 'another address');
  a1.s.close();
  t.ok(open('192.0.2.1').admitted, 'room again after a close');
  t.equal(g.open, 3);
  for (let i = 0; i < 5; i++) t.ok(open('10.0.0.1').admitted, 'a trusted proxy is not capped per address');
  t.ok(open('2001:db8:0:1::a').admitted);
  t.ok(open('2001:db8:0:1::b').admitted);
  t.notOk(open('2001:db8:0:1::c').admitted, 'the third from one /64');
  t.ok(open('2001:db8:0:2::a').admitted, 'the next /64');
  t.equal(logged.length, 1, 'later refusals are summed up later, not logged one by one');
  const gone = open(undefined);
  t.notOk(gone.admitted, 'a socket already closed is not counted');
  t.equal(refused.length, 2, '...nor counted as refused');
});

t.test('total: the last connections go to addresses with none open; then nothing', async (t) => {
  const { g, open, refused } = gate({ total: 5, reserve: 2 });
  for (let i = 0; i < 3; i++) t.ok(open('192.0.2.1').admitted);
  t.notOk(open('192.0.2.1').admitted, 'an address with connections open stops at total - reserve');
  const b = open('192.0.2.2');
  t.ok(b.admitted, 'an address with none open gets the reserve');
  t.notOk(open('192.0.2.2').admitted, 'but only one');
  t.ok(open('192.0.2.3').admitted);
  t.equal(g.open, 5);
  t.notOk(open('192.0.2.4').admitted, 'full');
  t.same(refused, ['total', 'total', 'total']);
  b.s.close();
  t.ok(open('192.0.2.4').admitted, 'room after a close');
});

t.test('no caps: everything admitted', async (t) => {
  const { g, open } = gate({});
  for (let i = 0; i < 1000; i++) open('192.0.2.1');
  t.equal(g.open, 1000);
});
