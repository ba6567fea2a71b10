import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { asyncHandler } from './http';

/** A chat webhook stand-in (Slack incoming-webhook behaviour: JSON POST, `ok` on success, errors as text). */
export interface WebhookStandIn {
  /** The webhook URL, with a path token like Slack's (/services/T…/B…/secret). */
  url: string;
  /** JSON bodies received, in order. */
  received: { text: string; blocks?: unknown[] }[];
  /** The next `n` posts fail with this HTTP status (Slack answers 500 / 429 under trouble). */
  failNext(n: number, status?: number): void;
  close(): Promise<void>;
}

/** Starts the stand-in on 127.0.0.1 with a free port. */
export async function startWebhookStandIn(): Promise<WebhookStandIn> {
  const path = '/services/T000TEST/B000TEST/not-a-real-secret-token';
  const received: WebhookStandIn['received'] = [];
  let failures = 0;
  let failStatus = 500;
  const server = createServer(
    asyncHandler(async (req: IncomingMessage, res: ServerResponse) => {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      if (req.method !== 'POST' || req.url !== path) return void res.writeHead(404).end('no_service');
      if (!String(req.headers['content-type']).startsWith('application/json'))
        return void res.writeHead(400).end('invalid_payload');
      if (failures > 0) {
        failures--;
        return void res.writeHead(failStatus).end('internal_error');
      }
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        if (typeof body.text !== 'string' || !body.text) return void res.writeHead(400).end('no_text');
        received.push(body);
        res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
      } catch {
        res.writeHead(400).end('invalid_payload');
      }
    }),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}${path}`,
    received,
    failNext(n, status = 500) {
      failures = n;
      failStatus = status;
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
