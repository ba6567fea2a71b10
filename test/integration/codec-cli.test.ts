import { randomBytes } from 'node:crypto';
import { EnvSecretStore } from '../../activities/secrets/secret-store';
import { startCodecServerFromSecrets } from '../../cli/codec-server';
import { PAYLOAD_KEYS_SECRET } from '../../codec/keys';
import { CODEC_SERVER_TOKEN_SECRET, type CodecServer } from '../../codec/server';
import { testEnv } from '../support/env';
import { createHarness, type Harness } from '../support/harness';
import { runTemporalCli } from '../support/temporal-cli';

// The real Temporal CLI 1.5.1 against our codec server: `temporal workflow query --codec-endpoint …` as the README
// documents it for the `status` query of a pipelineRun.

let h: Harness;
let server: CodecServer;
const token = randomBytes(24).toString('hex');
const log: string[] = [];
let workflowId: string;

beforeAll(async () => {
  h = await createHarness('codeccli', { customers: 40, orders: 120 });
  const secrets = new EnvSecretStore({
    [PAYLOAD_KEYS_SECRET]: await h.deps.secrets.get(PAYLOAD_KEYS_SECRET),
    [CODEC_SERVER_TOKEN_SECRET]: token,
  });
  server = await startCodecServerFromSecrets({ port: 0, host: '127.0.0.1', secrets, log: (m) => log.push(m) });
  const result = await h.run();
  expect(result.status).toBe('succeeded');
  workflowId = result.workflowId;
});
afterAll(async () => {
  await server?.close();
  await h?.close();
});

const query = (auth: string | null, name = 'status') =>
  runTemporalCli([
    'workflow',
    'query',
    '--address',
    testEnv('temporalAddress'),
    '--workflow-id',
    workflowId,
    '--name',
    name,
    '--codec-endpoint',
    server.url,
    ...(auth === null ? [] : ['--codec-auth', auth]),
    '--output',
    'json',
  ]);

test('temporal workflow query --name status through the codec server: exit 0, the decoded status', async () => {
  const t0 = Date.now();
  const r = await query(`Bearer ${token}`);
  console.log(`query with the token: exit ${r.code} after ${Date.now() - t0} ms\n${r.stdout}\n${r.stderr}`);
  expect(r).toMatchObject({ code: 0, timedOut: false });
  const out = JSON.parse(r.stdout) as { queryResult: unknown[] };
  expect(out.queryResult[0]).toMatchObject({ dataset: 'sales_core', state: 'succeeded' });
});

test.each([
  ['a wrong token', `Bearer ${token.slice(1)}x`],
  ['no token', null],
])('with %s: a non-zero exit naming the auth failure (not a timeout)', async (_what, auth) => {
  const t0 = Date.now();
  const r = await query(auth);
  console.log(`query with ${_what}: exit ${r.code} after ${Date.now() - t0} ms\n${r.stdout}\n${r.stderr}`);
  expect(r.timedOut).toBe(false);
  expect(r.code).not.toBe(0);
  expect(r.stderr).toMatch(/Unauthorized/);
  expect(r.stderr).toMatch(/FRESHLINE_CODEC_SERVER_TOKEN/);
  expect(r.stderr).not.toMatch(/context deadline exceeded/);
  expect(r.stdout + r.stderr).not.toContain(token.slice(1));
});

test('the CLI commands that go through the Go SDK retry a codec failure until their deadline: the server answered each 401 at once', async () => {
  // `workflow show` (and describe, result, start) call the SDK, whose gRPC retry interceptor treats the codec's
  // plain error as codes.Unknown — retryable — and re-sends until the RPC deadline (10 s; `result` 65 s), then
  // prints only "context deadline exceeded". Nothing in an HTTP answer can change that code; what the server can
  // do is answer each attempt at once with the reason, which its log shows (the operator's clue). Measured here.
  const before = log.length;
  const r = await runTemporalCli([
    'workflow',
    'show',
    '--address',
    testEnv('temporalAddress'),
    '--workflow-id',
    workflowId,
    '--codec-endpoint',
    server.url,
    '--codec-auth',
    'Bearer not-the-token-at-all',
  ]);
  expect(r.timedOut).toBe(false);
  expect(r.code).not.toBe(0);
  const refusals = log.slice(before).filter((l) => /POST \/decode: 401 wrong bearer token/.test(l));
  expect(refusals.length).toBeGreaterThan(1); // retried by the client, each refused by us
});
