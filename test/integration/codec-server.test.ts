import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { defaultPayloadConverter } from '@temporalio/common';
import { EnvSecretStore } from '../../activities/secrets/secret-store';
import { startCodecServerFromSecrets } from '../../cli/codec-server';
import { newPayloadKeys, PAYLOAD_KEYS_SECRET } from '../../codec/keys';
import { PayloadEncryptionCodec } from '../../codec/payload-codec';
import { CODEC_SERVER_TOKEN_SECRET, startCodecServer, type CodecServer } from '../../codec/server';

// The codec server over real HTTP, as the Temporal Web UI and `temporal --codec-endpoint` call it.

const UI = 'http://localhost:8233';
const token = randomBytes(24).toString('hex');
const secrets = new EnvSecretStore({ [PAYLOAD_KEYS_SECRET]: newPayloadKeys('k1'), [CODEC_SERVER_TOKEN_SECRET]: token });
const value = { dataset: 'sales_core', window: { start: '2026-11-22T10:00:00.000Z' } };
const refused: string[] = [];
let server: CodecServer;
let codec: PayloadEncryptionCodec;

beforeAll(async () => {
  server = await startCodecServerFromSecrets({
    port: 0,
    host: '127.0.0.1',
    uiOrigin: [UI],
    secrets,
    log: (m) => refused.push(m),
  });
  codec = await PayloadEncryptionCodec.fromSecrets(secrets);
});
afterAll(() => server?.close());

/** A payload as the protocol carries it: base64 metadata values and data. */
function toJson(p: { metadata?: Record<string, Uint8Array> | null; data?: Uint8Array | null }) {
  return {
    metadata: Object.fromEntries(
      Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')]),
    ),
    data: Buffer.from(p.data ?? []).toString('base64'),
  };
}
const fromJson = (p: { metadata: Record<string, string>; data: string }) => ({
  metadata: Object.fromEntries(Object.entries(p.metadata).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
  data: Buffer.from(p.data, 'base64'),
});

function post(path: string, body: unknown, headers: Record<string, string> = {}) {
  return fetch(`${server.url}${path}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-Namespace': 'default', ...headers },
    body: JSON.stringify(body),
  });
}

test('POST /decode with the bearer token returns the readable payloads', async () => {
  const encrypted = await codec.encode([
    defaultPayloadConverter.toPayload(value),
    defaultPayloadConverter.toPayload('second'),
  ]);
  const res = await post(
    '/decode',
    { payloads: encrypted.map(toJson) },
    { Authorization: `Bearer ${token}`, Origin: UI },
  );
  expect(res.status).toBe(200);
  expect(res.headers.get('access-control-allow-origin')).toBe(UI);
  const body = (await res.json()) as { payloads: { metadata: Record<string, string>; data: string }[] };
  expect(Buffer.from(body.payloads[0].metadata.encoding, 'base64').toString()).toBe('json/plain');
  expect(body.payloads.map((p) => defaultPayloadConverter.fromPayload(fromJson(p)))).toEqual([value, 'second']);
});

test('POST /encode then /decode round-trips; a namespace path prefix works too', async () => {
  const auth = { Authorization: `Bearer ${token}` };
  const enc = await post('/encode', { payloads: [toJson(defaultPayloadConverter.toPayload(value))] }, auth);
  expect(enc.status).toBe(200);
  const { payloads } = (await enc.json()) as { payloads: { metadata: Record<string, string>; data: string }[] };
  expect(Buffer.from(payloads[0].metadata.encoding, 'base64').toString()).toBe('binary/encrypted');
  expect(Buffer.from(payloads[0].data, 'base64').toString('latin1')).not.toContain('sales_core');
  const dec = await post('/default/decode', { payloads }, auth);
  expect(dec.status).toBe(200);
  const back = (await dec.json()) as { payloads: { metadata: Record<string, string>; data: string }[] };
  expect(defaultPayloadConverter.fromPayload(fromJson(back.payloads[0]))).toEqual(value);
});

test('without the token, or with a wrong one: 401, and nothing decoded', async () => {
  const encrypted = await codec.encode([defaultPayloadConverter.toPayload(value)]);
  for (const headers of [
    { Origin: UI },
    { Authorization: `Bearer ${token.slice(1)}x` },
    { Authorization: token },
  ] as Record<string, string>[]) {
    const res = await post('/decode', { payloads: encrypted.map(toJson) }, headers);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(await res.text()).not.toContain('sales_core');
  }
  // The UI reads the 401 (CORS headers on it), so it can tell the user why.
  const fromUi = await post('/decode', { payloads: [] }, { Origin: UI });
  expect(fromUi.headers.get('access-control-allow-origin')).toBe(UI);
});

test('a body without payloads (protobuf JSON of an empty list, what `temporal workflow query` sends) is none: 200 {"payloads": []}', async () => {
  const auth = { Authorization: `Bearer ${token}` };
  for (const path of ['/encode', '/decode', '/default/encode'])
    for (const body of [{}, { payloads: null }, { payloads: [] }]) {
      const res = await post(path, body, auth);
      expect(`${path} ${JSON.stringify(body)}: ${res.status}`).toBe(`${path} ${JSON.stringify(body)}: 200`);
      expect(await res.json()).toEqual({ payloads: [] });
    }
});

test('a 401 says what was wrong and names the token secret (never the token), and is logged', async () => {
  const cases: [Record<string, string>, RegExp][] = [
    [{}, /^no Authorization header: .*secret FRESHLINE_CODEC_SERVER_TOKEN/],
    [{ Authorization: token }, /^Authorization is not "Bearer <token>": /],
    [
      { Authorization: `Bearer ${token.slice(1)}x` },
      /^wrong bearer token: .*--codec-auth "Bearer \$FRESHLINE_CODEC_SERVER_TOKEN"/,
    ],
  ];
  for (const [headers, message] of cases) {
    const res = await post('/encode', {}, headers);
    expect(res.status).toBe(401);
    const { error } = (await res.json()) as { error: string };
    expect(error).toMatch(message);
    expect(error).not.toContain(token.slice(1));
  }
  expect(refused.join('\n')).toMatch(/POST \/encode: 401 wrong bearer token/);
  expect(refused.join('\n')).not.toContain(token.slice(1));
});

test('CORS preflight: the Web UI origin may send Authorization and X-Namespace; other origins get no grant', async () => {
  const preflight = (origin: string) =>
    fetch(`${server.url}/decode`, {
      method: 'OPTIONS',
      headers: {
        Origin: origin,
        'Access-Control-Request-Method': 'POST',
        'Access-Control-Request-Headers': 'authorization,content-type,x-namespace',
      },
    });
  const ok = await preflight(UI);
  expect(ok.status).toBe(204);
  expect(ok.headers.get('access-control-allow-origin')).toBe(UI);
  expect(ok.headers.get('access-control-allow-methods')).toMatch(/POST/);
  expect(ok.headers.get('access-control-allow-headers')?.toLowerCase().split(/,\s*/)).toEqual(
    expect.arrayContaining(['authorization', 'content-type', 'x-namespace']),
  );
  const evil = await preflight('https://evil.example');
  expect(evil.status).toBe(403);
  expect(evil.headers.get('access-control-allow-origin')).toBeNull();
  // An actual request from that origin is refused even with the token.
  const res = await post(
    '/decode',
    { payloads: [] },
    { Authorization: `Bearer ${token}`, Origin: 'https://evil.example' },
  );
  expect(res.status).toBe(403);
});

test('bad requests: malformed body 400, wrong content type 415, unknown key 422 naming the key id, unknown path 404', async () => {
  const auth = { Authorization: `Bearer ${token}` };
  for (const body of [{ nope: 1 }, { payloads: [], extra: 1 }, { payloads: 3 }, { payloads: {} }, [], 'payloads', null])
    expect(`${JSON.stringify(body)}: ${(await post('/decode', body, auth)).status}`).toBe(
      `${JSON.stringify(body)}: 400`,
    );
  expect((await post('/decode', { payloads: [7] }, auth)).status).toBe(400);
  const text = await fetch(`${server.url}/decode`, {
    method: 'POST',
    headers: { ...auth, 'Content-Type': 'text/plain' },
    body: '{"payloads":[]}',
  });
  expect(text.status).toBe(415);
  const other = await (
    await PayloadEncryptionCodec.fromSecrets(new EnvSecretStore({ [PAYLOAD_KEYS_SECRET]: newPayloadKeys('k0') }))
  ).encode([defaultPayloadConverter.toPayload(value)]);
  const unknown = await post('/decode', { payloads: other.map(toJson) }, auth);
  expect(unknown.status).toBe(422);
  expect(((await unknown.json()) as { error: string }).error).toMatch(/encrypted with key 'k0'/);
  expect((await post('/decrypt', { payloads: [] }, auth)).status).toBe(404);
  // Refusals are logged with their reason (never payloads or the token).
  expect(refused.join('\n')).toMatch(/422 payload was encrypted with key 'k0'/);
  expect(refused.join('\n')).not.toContain(token);
});

test('the command fails fast naming the token secret; a server without a token must be loopback and checks Host', async () => {
  const noToken = new EnvSecretStore({ [PAYLOAD_KEYS_SECRET]: newPayloadKeys('k1') });
  await expect(startCodecServerFromSecrets({ port: 0, host: '127.0.0.1', secrets: noToken })).rejects.toThrow(
    /secret 'FRESHLINE_CODEC_SERVER_TOKEN'/,
  );
  await expect(startCodecServer({ codec, token: null, host: '0.0.0.0', allowedOrigins: [] })).rejects.toThrow(
    /loopback/,
  );
  const open = await startCodecServer({ codec, token: null, allowedOrigins: [UI] });
  try {
    const call = (host: string) =>
      new Promise<number>((resolve, reject) => {
        const req = request(
          `${open.url}/decode`,
          { method: 'POST', headers: { Host: host, 'Content-Type': 'application/json' } },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        );
        req.on('error', reject);
        req.end('{"payloads":[]}');
      });
    expect(await call(`127.0.0.1:${open.port}`)).toBe(200);
    expect(await call(`rebound.example:${open.port}`)).toBe(403);
  } finally {
    await open.close();
  }
});
