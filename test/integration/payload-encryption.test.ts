import { Client } from '@temporalio/client';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { PAYLOAD_KEYS_SECRET } from '../../codec/keys';
import { ENCODING_ENCRYPTED, METADATA_KEY_ID, PayloadEncryptionCodec } from '../../codec/payload-codec';
import { statusQuery } from '../../workflows/messages';
import { createHarness, failureText, type Harness } from '../support/harness';
import { historyPayloads } from '../support/history';

// A real pipelineRun: what Temporal stores is ciphertext; the codec (worker, clients, codec server) reads it.

let h: Harness;
beforeAll(async () => {
  h = await createHarness('payloadenc', { customers: 60, orders: 200 });
});
afterAll(() => h?.close());

const bytes = (b: Uint8Array | null | undefined) => Buffer.from(b ?? new Uint8Array());

/** Payload data and metadata as text in every form someone reading the raw history could try. */
function payloadText(payloads: Payload[]): string {
  return payloads
    .flatMap((p) => [
      bytes(p.data),
      ...Object.entries(p.metadata ?? {}).flatMap(([k, v]) => [Buffer.from(k), bytes(v)]),
    ])
    .flatMap((b) => [b.toString('utf8'), b.toString('latin1'), b.toString('base64')])
    .join('\n');
}

test('Temporal stores only ciphertext: no PII, no secret, not even the dataset name; the codec reads it back', async () => {
  const result = await h.run();
  expect(result.status).toBe('succeeded');

  // (a) The history as Temporal stores it, fetched by a client WITHOUT the codec.
  const plainClient = new Client({ connection: h.client.connection });
  const raw = await plainClient.workflow.getHandle(result.workflowId).fetchHistory();
  const payloads = historyPayloads(raw);
  // Input, every activity's input and result, the workflow result (search attributes stay clear for visibility).
  expect(payloads.length).toBeGreaterThan(20);
  const encrypted = payloads.filter((p) => bytes(p.metadata?.encoding).toString() === ENCODING_ENCRYPTED);
  const clear = payloads.filter((p) => !encrypted.includes(p));
  expect(clear.map((p) => bytes(p.metadata?.encoding).toString())).toEqual([]);
  expect(new Set(encrypted.map((p) => bytes(p.metadata?.[METADATA_KEY_ID]).toString()))).toEqual(new Set(['test']));

  const { rows: people } = await h.pool.query(
    'SELECT email, phone, full_name, address FROM shop.customers ORDER BY customer_id',
  );
  const pii = people.flatMap((p) => [p.email, p.phone, p.full_name, p.address]).filter(Boolean) as string[];
  expect(pii.length).toBeGreaterThan(100);
  const dbUrl = await h.deps.secrets.get('SHOP_DB_URL');
  const dbPassword = decodeURIComponent(new URL(dbUrl).password);
  const payloadKeys = await h.deps.secrets.get(PAYLOAD_KEYS_SECRET);
  const secrets = [
    h.piiKey,
    dbUrl,
    payloadKeys,
    payloadKeys.slice(payloadKeys.indexOf(':') + 1),
    ...(dbPassword ? [dbPassword] : []),
  ];
  const rawPayloadText = payloadText(payloads);
  expect(pii.filter((v) => rawPayloadText.includes(v))).toEqual([]);
  expect(secrets.filter((v) => rawPayloadText.includes(v))).toEqual([]);
  for (const word of ['sales_core', 'customers', 'orders', 'succeeded', 'json/plain'])
    expect(rawPayloadText).not.toContain(word);
  // The whole stored history (ids and task queues are not payloads and may name the dataset) holds no PII or secret.
  const rawHistoryText = JSON.stringify(raw);
  expect(pii.filter((v) => rawHistoryText.includes(v))).toEqual([]);
  expect(secrets.filter((v) => rawHistoryText.includes(v))).toEqual([]);

  // (b) With the codec, the same payloads are readable.
  const codec = await PayloadEncryptionCodec.fromSecrets(h.deps.secrets);
  const decoded = await codec.decode(payloads);
  const decodedText = decoded.map((p) => bytes(p.data).toString('utf8')).join('\n');
  expect(decodedText).toContain('"dataset":"sales_core"');
  expect(decodedText).toMatch(/"table":"customers"/);
  // The last payload is the workflow's result: the run summary.
  const completed = raw.events?.find(
    (e) => e.workflowExecutionCompletedEventAttributes,
  )?.workflowExecutionCompletedEventAttributes;
  const [summary] = await codec.decode(completed?.result?.payloads ?? []);
  expect(defaultPayloadConverter.fromPayload(summary)).toMatchObject({
    workflowId: result.workflowId,
    status: 'succeeded',
  });
  // Still no PII or secret after decoding: encryption is defence in depth, payloads never carried them.
  expect(pii.filter((v) => decodedText.includes(v))).toEqual([]);
  expect(secrets.filter((v) => decodedText.includes(v))).toEqual([]);
});

test('a client without the keys cannot read results; one with them can', async () => {
  const handle = h.client.workflow.getHandle(`sales_core/window/${h.window.start}`);
  expect(await handle.result()).toMatchObject({ status: 'succeeded' });
  const plainClient = new Client({ connection: h.client.connection });
  // The default converter has no converter for binary/encrypted.
  await expect(plainClient.workflow.getHandle(`sales_core/window/${h.window.start}`).result()).rejects.toThrow(
    /binary\/encrypted/,
  );
});

test('failures are ciphertext in Temporal; a client with the codec reads them', async () => {
  const handle = await h.start({ dataset: 'no_such_dataset' });
  const err = await handle.result().then(
    () => null,
    (e: unknown) => e,
  );
  // The operator (a client with the codec) reads the message.
  expect(failureText(err)).toMatch(/unknown dataset 'no_such_dataset'/);
  const status = await handle.query(statusQuery);
  expect(status.error).toContain('unknown dataset');

  // Temporal stores every failure (activity attempts, the workflow's) as "Encoded failure" with the text encrypted.
  const raw = await new Client({ connection: h.client.connection }).workflow
    .getHandle(handle.workflowId)
    .fetchHistory();
  const failures = JSON.stringify(raw)
    .match(/"message":"[^"]*"/g)
    ?.filter((m) => m !== '"message":"Encoded failure"');
  expect(failures ?? []).toEqual([]);
  // (The workflow id names the dataset: ids are not payloads.)
  expect(JSON.stringify(raw)).not.toMatch(/unknown dataset|defined: sales_core/);
  expect(raw.events?.some((e) => e.workflowExecutionFailedEventAttributes)).toBe(true);
});
