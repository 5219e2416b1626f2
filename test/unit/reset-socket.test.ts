/**
 * The test proxies cut connections with resetSocket. A plain resetAndDestroy on a socket that is
 * already ending never closes it on Node 20, and the test process then spins at exit until tap's
 * timeout (a CI run lost 15 minutes to it): a reset socket must close, whatever its state.
 */
import { once } from 'node:events';
import { type AddressInfo, connect, createServer, type Socket } from 'node:net';
import t, { type Test } from 'tap';
import { resetSocket } from '../helpers/reset-socket.js';

async function pair(t: Test): Promise<{ client: Socket; peer: Socket }> {
  // Half-open allowed, so a peer that sees FIN does not end its side and close the pair by itself.
  const server = createServer({ allowHalfOpen: true });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const accepted = once(server, 'connection');
  const client = connect((server.address() as AddressInfo).port, '127.0.0.1');
  await once(client, 'connect');
  const [peer] = (await accepted) as [Socket];
  t.teardown(() => {
    peer.destroy();
    client.destroy();
    server.close();
  });
  return { client, peer };
}

function closesWithin(socket: Socket, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

t.test('an open socket is reset: the peer sees ECONNRESET', async (t) => {
  const { client, peer } = await pair(t);
  const peerError = new Promise<string | undefined>((resolve) => {
    peer.once('error', (e: NodeJS.ErrnoException) => resolve(e.code));
    peer.once('close', () => resolve(undefined));
  });
  peer.resume();
  const closed = closesWithin(client, 5000);
  resetSocket(client);
  t.ok(await closed, 'the socket closes');
  t.equal(await peerError, 'ECONNRESET', 'the peer sees a reset, not an orderly close');
});

t.test('a socket in the middle of its shutdown (end() called, FIN not yet confirmed) still closes', async (t) => {
  const { client, peer } = await pair(t);
  client.on('error', () => {});
  peer.resume();
  client.end();
  // end() issues the shutdown on a later tick; its completion comes on a later turn of the loop.
  await new Promise((resolve) => process.nextTick(resolve));
  await new Promise((resolve) => process.nextTick(resolve));
  t.equal(client.writableEnded, true, 'the socket is ending');
  t.equal(client.writableFinished, false, 'its shutdown is not finished');
  const closed = closesWithin(client, 5000);
  resetSocket(client);
  t.ok(await closed, 'the socket closes (a plain resetAndDestroy fails with EINVAL and leaves it open for ever)');
});
