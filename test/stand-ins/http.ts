import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * Adapts an async request handler to node:http's listener (which ignores the promise): a handler that
 * throws answers 500 with the error instead of leaving an unhandled rejection and a hanging client.
 */
export function asyncHandler(
  handle: (req: IncomingMessage, res: ServerResponse) => Promise<void>,
): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(`stand-in error: ${(err as Error).message}`);
    });
  };
}

/** A loopback server for one test: `url` is http://127.0.0.1:<free port>. */
export async function startHttpServer(
  handle: (req: IncomingMessage, res: ServerResponse) => Promise<void>,
): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer(asyncHandler(handle));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** What a server received: method, path, headers and the whole body. */
export interface ReceivedRequest {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

/** A server that records every request and answers 200 `{}` (where a redirect must never arrive). */
export async function startRecordingServer(): Promise<{
  url: string;
  received: ReceivedRequest[];
  close(): Promise<void>;
}> {
  const received: ReceivedRequest[] = [];
  const server = await startHttpServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    received.push({
      method: req.method ?? '',
      url: req.url ?? '',
      headers: req.headers,
      body: Buffer.concat(chunks).toString('utf8'),
    });
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  });
  return { ...server, received };
}

/**
 * Answers `status` with a body of `totalBytes` (written with backpressure, 64 KiB at a time): resolves, once the
 * connection closes, with how much was written and whether all of it was.
 */
export function hugeBody(
  res: ServerResponse,
  status: number,
  totalBytes: number,
): Promise<{ sentBytes: number; complete: boolean }> {
  const chunk = Buffer.alloc(64 * 1024, 'x');
  return new Promise((resolve) => {
    let sent = 0;
    let closed = false;
    res.on('close', () => {
      closed = true;
      resolve({ sentBytes: sent, complete: res.writableFinished });
    });
    res.writeHead(status, { 'content-type': 'text/plain' });
    const pump = () => {
      while (!closed && sent < totalBytes) {
        sent += chunk.length;
        if (!res.write(chunk)) return void res.once('drain', pump);
      }
      if (!closed) res.end();
    };
    pump();
  });
}

/**
 * A loopback server whose every answer is a `status` with a `totalBytes` body (see hugeBody); `outcome` resolves
 * with how much of the first answer was written once its connection closes.
 */
export async function startHugeBodyServer(
  status: number,
  totalBytes: number,
): Promise<
  Awaited<ReturnType<typeof startHttpServer>> & { outcome: Promise<{ sentBytes: number; complete: boolean }> }
> {
  let served!: (r: { sentBytes: number; complete: boolean }) => void;
  const outcome = new Promise<{ sentBytes: number; complete: boolean }>((resolve) => (served = resolve));
  const server = await startHttpServer(async (req, res) => {
    for await (const _ of req) void _;
    served(await hugeBody(res, status, totalBytes));
  });
  return { ...server, outcome };
}
