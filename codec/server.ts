import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Payload, PayloadCodec } from '@temporalio/common';

/** Secret holding the bearer token codec server clients must send. */
export const CODEC_SERVER_TOKEN_SECRET = 'FRESHLINE_CODEC_SERVER_TOKEN';

/** Request bodies above this are refused (413): the UI sends a page of payloads at a time. */
const MAX_BODY_BYTES = 16 * 1024 * 1024;
const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);
const ROUTE = /^(?:\/[^/?]+)?\/(decode|encode)\/?(?:\?.*)?$/;

/** Options of {@link startCodecServer}. */
export interface CodecServerOptions {
  codec: PayloadCodec;
  /**
   * Bearer token every request must carry (`Authorization: Bearer <token>`). `null` turns auth off, which
   * is allowed only on a loopback host and then also requires a loopback Host header (DNS rebinding).
   */
  token: string | null;
  /** Interface to bind (default 127.0.0.1). */
  host?: string;
  /** Port (default 0: any free one). */
  port?: number;
  /** Browser origins allowed to call (CORS), e.g. the Temporal Web UI's `http://localhost:8233`. */
  allowedOrigins: readonly string[] | ((origin: string) => boolean);
  /** Namespaces served (the `X-Namespace` header); absent means any. */
  namespaces?: readonly string[];
  /** One line per refused or failed request (never payload contents). */
  log?: (msg: string) => void;
}

/** A running codec server. */
export interface CodecServer {
  /** Base URL to give the UI or CLI (`--codec-endpoint`, `--ui-codec-endpoint`). */
  url: string;
  port: number;
  close(): Promise<void>;
}

/** Payload as Temporal's codec server protocol carries it in JSON: base64 metadata values and data. */
interface JsonPayload {
  metadata?: Record<string, string> | null;
  data?: string | null;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/**
 * Starts Temporal's codec server protocol over node:http: `POST /decode` and `POST /encode` (optionally under
 * one path segment, e.g. `/<namespace>/decode`) with `{"payloads":[{"metadata":{…},"data":"…"}]}`, base64 fields.
 * Bearer-token auth (401 otherwise), CORS for the allowed origins (preflights need no token).
 */
export async function startCodecServer(opts: CodecServerOptions): Promise<CodecServer> {
  const host = opts.host ?? '127.0.0.1';
  if (opts.token === null && !LOOPBACK_HOSTS.has(host))
    throw new Error(`codec server without a token must bind to a loopback address, not '${host}'`);
  if (opts.token !== null && opts.token.length < 16)
    throw new Error('codec server token must be at least 16 characters');
  const expected = opts.token === null ? null : digest(opts.token);
  const originAllowed =
    typeof opts.allowedOrigins === 'function'
      ? opts.allowedOrigins
      : (o: string) => (opts.allowedOrigins as readonly string[]).includes(o);
  const log = opts.log ?? (() => undefined);

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      const status = err instanceof HttpError ? err.status : 500;
      const message = err instanceof HttpError ? err.message : 'internal error';
      if (!(err instanceof HttpError)) log(`codec server: ${req.method} ${req.url}: ${(err as Error).message}`);
      else log(`codec server: ${req.method} ${req.url}: ${status} ${message}`);
      if (res.headersSent) return void res.destroy();
      send(res, status, { error: message }, { ...cors(req), ...(err instanceof HttpError ? err.headers : {}) });
    });
  });

  /** CORS headers for an allowed Origin (none for other or no origin). */
  function cors(req: IncomingMessage): Record<string, string> {
    const origin = req.headers.origin;
    if (!origin || !originAllowed(origin)) return {};
    return { 'Access-Control-Allow-Origin': origin, 'Access-Control-Allow-Credentials': 'true', Vary: 'Origin' };
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const origin = req.headers.origin;
    // A browser page from any other origin gets no CORS grant and no work done for it.
    if (origin && !originAllowed(origin)) throw new HttpError(403, `origin ${origin} is not allowed`);
    const route = ROUTE.exec(req.url ?? '');
    if (!route) throw new HttpError(404, 'not found: POST /decode or /encode');
    if (req.method === 'OPTIONS') {
      // Preflights carry no credentials by design: answered without the token.
      res.writeHead(204, {
        ...cors(req),
        'Access-Control-Allow-Methods': 'POST, OPTIONS',
        'Access-Control-Allow-Headers': 'Authorization, Content-Type, X-Namespace',
        'Access-Control-Max-Age': '600',
      });
      return void res.end();
    }
    if (req.method !== 'POST') throw new HttpError(405, 'method not allowed: use POST', { Allow: 'POST, OPTIONS' });
    authorize(req);
    const namespace = header(req, 'x-namespace');
    if (opts.namespaces && !(namespace && opts.namespaces.includes(namespace))) {
      throw new HttpError(
        403,
        `namespace '${namespace ?? ''}' is not served here (X-Namespace; served: ${opts.namespaces.join(', ')})`,
      );
    }
    if (!/^application\/json\b/i.test(header(req, 'content-type') ?? ''))
      throw new HttpError(415, 'Content-Type must be application/json');
    const payloads = parseBody(await readBody(req));
    let result: Payload[];
    try {
      result = route[1] === 'decode' ? await opts.codec.decode(payloads) : await opts.codec.encode(payloads);
    } catch (err) {
      // Codec errors name a key id at most (never a key): the caller needs them to act (e.g. a retired key).
      throw new HttpError(422, (err as Error).message);
    }
    send(res, 200, { payloads: result.map(toJson) }, cors(req));
  }

  function authorize(req: IncomingMessage): void {
    if (expected === null) {
      // No token: loopback only, and a loopback Host so a rebinding DNS name cannot reach us from a browser.
      const hostHeader = (header(req, 'host') ?? '').replace(/:\d+$/, '');
      if (!LOOPBACK_HOSTS.has(hostHeader)) throw new HttpError(403, 'host not allowed');
      return;
    }
    const given = header(req, 'authorization');
    const m = /^Bearer\s+(\S+)\s*$/i.exec(given ?? '');
    if (!m || !timingSafeEqual(digest(m[1]), expected)) {
      // What was wrong (never the token) and the fix, in the body: `temporal` prints it as `Unauthorized: <body>`.
      const what = !given
        ? 'no Authorization header'
        : !m
          ? 'Authorization is not "Bearer <token>"'
          : 'wrong bearer token';
      throw new HttpError(
        401,
        `${what}: send the codec server's token (secret ${CODEC_SERVER_TOKEN_SECRET}), e.g. --codec-auth "Bearer $${CODEC_SERVER_TOKEN_SECRET}"`,
        { 'WWW-Authenticate': 'Bearer realm="freshline-codec"' },
      );
    }
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${host.includes(':') && !host.startsWith('[') ? `[${host}]` : host}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string>): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
  });
  res.end(text);
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new HttpError(413, `body larger than ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function parseBody(text: string): Payload[] {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new HttpError(400, 'body is not JSON');
  }
  const shape = 'body must be {"payloads": [...]}';
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new HttpError(400, shape);
  const extra = Object.keys(body).filter((k) => k !== 'payloads');
  if (extra.length) throw new HttpError(400, `${shape}, not ${extra.map((k) => `'${k}'`).join(', ')}`);
  // Temporal's clients send protobuf JSON, where an empty list is omitted: a query without arguments makes
  // `temporal workflow query` POST `{}` to /encode. Absent (or null) payloads are none.
  const payloads = (body as { payloads?: unknown }).payloads ?? [];
  if (!Array.isArray(payloads)) throw new HttpError(400, shape);
  return payloads.map((p, i) => fromJson(p, i));
}

function fromJson(value: unknown, i: number): Payload {
  const bad = (what: string) => new HttpError(400, `payloads[${i}]: ${what}`);
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw bad('must be an object');
  const { metadata, data } = value as JsonPayload;
  if (data !== undefined && data !== null && typeof data !== 'string') throw bad('data must be a base64 string');
  if (metadata !== undefined && metadata !== null && (typeof metadata !== 'object' || Array.isArray(metadata)))
    throw bad('metadata must be an object');
  const meta: Record<string, Uint8Array> = {};
  for (const [k, v] of Object.entries(metadata ?? {})) {
    if (typeof v !== 'string') throw bad(`metadata.${k} must be a base64 string`);
    meta[k] = Buffer.from(v, 'base64');
  }
  return { metadata: meta, data: Buffer.from(data ?? '', 'base64') };
}

function toJson(payload: Payload): JsonPayload {
  return {
    metadata: Object.fromEntries(
      Object.entries(payload.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')]),
    ),
    data: Buffer.from(payload.data ?? new Uint8Array()).toString('base64'),
  };
}
