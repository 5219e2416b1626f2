/**
 * A tusd-style hook receiver for tests, on 127.0.0.1: it records every hook request, checks its
 * Tus-Hook-Signature on its own (HMAC-SHA256 of "<t>.<raw body>", as docs/hooks.md tells receivers
 * to) and answers as the test scripts it (`respond`), by default 200 with an empty JSON object.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';

export interface ReceivedHook {
  type: string;
  // biome-ignore lint/suspicious/noExplicitAny: the payload is asserted field by field
  body: any;
  /** The exact bytes received. */
  raw: string;
  headers: IncomingHttpHeaders;
  /** The signature header matched the raw body under the secret (and is recent). */
  signed: boolean;
}

export interface HookAnswer {
  status?: number;
  /** An object is sent as JSON (Content-Type: application/json). */
  body?: unknown;
  headers?: Record<string, string>;
  /** Answer this late (a slow receiver). */
  delayMs?: number;
}

/** The documented check, written out here instead of importing the server's. */
export function signatureMatches(header: string | undefined, raw: string, secret: string, nowSeconds = Date.now() / 1000): boolean {
  const t = /(?:^|,)t=(\d+)/.exec(header ?? '')?.[1];
  const v1 = /(?:^|,)v1=([0-9a-f]{64})/.exec(header ?? '')?.[1];
  if (!t || !v1 || Math.abs(nowSeconds - Number(t)) > 300) return false;
  const expected = createHmac('sha256', secret).update(`${t}.${raw}`).digest();
  return timingSafeEqual(expected, Buffer.from(v1, 'hex'));
}

export class HookReceiver {
  readonly received: ReceivedHook[] = [];
  respond: (hook: ReceivedHook) => HookAnswer | Promise<HookAnswer> = () => ({});
  private constructor(
    private readonly server: Server,
    readonly port: number,
    private readonly secret: string,
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}/hooks`;
  }

  static async start(secret: string, port = 0): Promise<HookReceiver> {
    const server = createServer();
    server.listen(port, '127.0.0.1');
    await once(server, 'listening');
    const receiver = new HookReceiver(server, (server.address() as { port: number }).port, secret);
    server.on('request', (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', async () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        let body: unknown;
        try {
          body = JSON.parse(raw);
        } catch {
          body = undefined;
        }
        const signature = req.headers['tus-hook-signature'];
        const hook: ReceivedHook = {
          type: (body as { Type?: string } | undefined)?.Type ?? '',
          body,
          raw,
          headers: req.headers,
          signed: signatureMatches(typeof signature === 'string' ? signature : undefined, raw, receiver.secret),
        };
        receiver.received.push(hook);
        // A receiver refuses what is not signed by its server.
        const answer: HookAnswer = hook.signed ? await receiver.respond(hook) : { status: 401, body: 'bad signature' };
        if (answer.delayMs) await new Promise((r) => setTimeout(r, answer.delayMs));
        if (res.destroyed) return;
        const text = answer.body === undefined ? '{}' : typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body);
        res.writeHead(answer.status ?? 200, { 'Content-Type': 'application/json', ...answer.headers });
        res.end(text);
      });
    });
    return receiver;
  }

  of(type: string): ReceivedHook[] {
    return this.received.filter((h) => h.type === type);
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
