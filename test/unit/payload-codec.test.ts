import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { EnvSecretStore, type SecretStore } from '../../activities/secrets/secret-store';
import { newPayloadKeys, parseKeyRing, PAYLOAD_KEYS_SECRET } from '../../codec/keys';
import {
  ENCODING_ENCRYPTED,
  METADATA_KEY_ID,
  PayloadDecryptionError,
  PayloadEncryptionCodec,
} from '../../codec/payload-codec';

const value = { dataset: 'sales_core', table: 'customers', email: 'ana@example.com', rows: 42 };
const k1 = newPayloadKeys('k1');
const k2 = newPayloadKeys('k2');
const keyMaterial = (keys: string) => keys.split(',').map((e) => e.slice(e.indexOf(':') + 1));
const codecOf = (keys: string) =>
  PayloadEncryptionCodec.fromSecrets(new EnvSecretStore({ [PAYLOAD_KEYS_SECRET]: keys }));
const text = (b: Uint8Array | null | undefined) => Buffer.from(b ?? new Uint8Array()).toString('utf8');
const meta = (p: Payload, key: string) => text(p.metadata?.[key]);

async function errorOf(promise: Promise<unknown>): Promise<Error> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof Error)) throw new Error('expected a rejection');
  return err;
}

test('roundtrip: encrypted on the wire (only encoding and key id in clear), the same payload decoded', async () => {
  const codec = await codecOf(k1);
  const plain = defaultPayloadConverter.toPayload(value);
  const [wire] = await codec.encode([plain]);
  expect(Object.keys(wire.metadata ?? {}).sort()).toEqual(['encoding', METADATA_KEY_ID]);
  expect(meta(wire, 'encoding')).toBe(ENCODING_ENCRYPTED);
  expect(meta(wire, METADATA_KEY_ID)).toBe('k1');
  const wireText = Buffer.from(wire.data ?? []).toString('latin1');
  for (const s of ['sales_core', 'customers', 'ana@example.com', 'json/plain']) expect(wireText).not.toContain(s);
  const [back] = await codec.decode([wire]);
  expect(meta(back, 'encoding')).toBe('json/plain');
  expect(defaultPayloadConverter.fromPayload(back)).toEqual(value);
  // A fresh IV each time: equal values do not give equal ciphertexts.
  const [again] = await codec.encode([plain]);
  expect(Buffer.from(again.data ?? []).equals(Buffer.from(wire.data ?? []))).toBe(false);
  // Every payload kind, including null and raw bytes, and an empty batch.
  const mixed = [
    defaultPayloadConverter.toPayload(undefined),
    defaultPayloadConverter.toPayload(new Uint8Array([0, 1, 2])),
    defaultPayloadConverter.toPayload(''),
  ];
  const decoded = await codec.decode(await codec.encode(mixed));
  expect(decoded.map((p) => defaultPayloadConverter.fromPayload(p))).toEqual([
    undefined,
    new Uint8Array([0, 1, 2]),
    '',
  ]);
  expect(await codec.encode([])).toEqual([]);
});

test('rotation: with a new key first, payloads of the old key still decode and new ones use the new key', async () => {
  const [old] = await (await codecOf(k1)).encode([defaultPayloadConverter.toPayload(value)]);
  const rotated = await codecOf(`${k2},${k1}`);
  expect(rotated.currentKeyId).toBe('k2');
  expect(rotated.keyIds).toEqual(['k2', 'k1']);
  expect(defaultPayloadConverter.fromPayload((await rotated.decode([old]))[0])).toEqual(value);
  const [fresh] = await rotated.encode([defaultPayloadConverter.toPayload(value)]);
  expect(meta(fresh, METADATA_KEY_ID)).toBe('k2');
  // Whitespace and newlines separate keys too (secret managers often store one a line).
  expect((await codecOf(`${k2}\n ${k1}\n`)).keyIds).toEqual(['k2', 'k1']);
});

test('an unknown key id fails naming the id and the secret, never a key', async () => {
  const [old] = await (await codecOf(k1)).encode([defaultPayloadConverter.toPayload(value)]);
  const err = await errorOf((await codecOf(k2)).decode([old]));
  expect(err).toBeInstanceOf(PayloadDecryptionError);
  expect(err.message).toMatch(
    /encrypted with key 'k1', which secret 'FRESHLINE_PAYLOAD_KEYS' does not hold \(it holds: k2\)/,
  );
  for (const m of [...keyMaterial(k1), ...keyMaterial(k2)]) expect(err.message).not.toContain(m);
});

test('an unknown key id re-reads the secret once (a rotation elsewhere added it)', async () => {
  let current = k2;
  const refreshed: string[] = [];
  const store: SecretStore = { get: async () => current, refresh: async (name) => void refreshed.push(name) };
  const codec = await PayloadEncryptionCodec.fromSecrets(store);
  const [old] = await (await codecOf(k1)).encode([defaultPayloadConverter.toPayload(value)]);
  current = `${k2},${k1}`;
  expect(defaultPayloadConverter.fromPayload((await codec.decode([old]))[0])).toEqual(value);
  expect(refreshed).toEqual([PAYLOAD_KEYS_SECRET]);
});

test('tampering fails GCM authentication, naming the key id', async () => {
  const codec = await codecOf(`${k2},${k1}`);
  const [wire] = await codec.encode([defaultPayloadConverter.toPayload(value)]);
  const flipped = Buffer.from(wire.data ?? []);
  flipped[20] ^= 0x01;
  const err = await errorOf(codec.decode([{ ...wire, data: flipped }]));
  expect(err).toBeInstanceOf(PayloadDecryptionError);
  expect(err.message).toMatch(/key 'k2' failed AES-256-GCM authentication/);
  for (const m of keyMaterial(`${k2},${k1}`)) expect(err.message).not.toContain(m);
  // The key id is authenticated too: relabelling a payload with another known key fails.
  const relabelled = { ...wire, metadata: { ...wire.metadata, [METADATA_KEY_ID]: Buffer.from('k1') } };
  expect((await errorOf(codec.decode([relabelled]))).message).toMatch(/key 'k1' failed AES-256-GCM authentication/);
  // Truncated data.
  expect((await errorOf(codec.decode([{ ...wire, data: flipped.subarray(0, 10) }]))).message).toMatch(
    /key 'k2' is truncated/,
  );
  // A key with the right id but other bytes (secret edited by mistake).
  const wrong = await codecOf(`${newPayloadKeys('k2')}`);
  expect((await errorOf(wrong.decode([wire]))).message).toMatch(/key 'k2' failed AES-256-GCM authentication/);
});

test('payloads that are not encrypted pass through decode (histories from before encryption)', async () => {
  const plain = defaultPayloadConverter.toPayload(value);
  expect(await (await codecOf(k1)).decode([plain])).toEqual([plain]);
});

test('a missing or malformed secret fails naming FRESHLINE_PAYLOAD_KEYS and the key id, never the value', async () => {
  expect((await errorOf(PayloadEncryptionCodec.fromSecrets(new EnvSecretStore({})))).message).toMatch(
    /payload encryption needs secret 'FRESHLINE_PAYLOAD_KEYS'.*is not set/,
  );
  const short = `k3:${Buffer.alloc(16, 7).toString('base64')}`;
  expect(() => parseKeyRing(`${k1},${short}`)).toThrow(
    /secret 'FRESHLINE_PAYLOAD_KEYS' key 'k3' is not base64 of 32 bytes/,
  );
  expect(() => parseKeyRing(`${k1},${k1}`)).toThrow(/names key 'k1' twice/);
  const bare = keyMaterial(k1)[0];
  let err: Error | undefined;
  try {
    parseKeyRing(bare);
  } catch (e) {
    err = e as Error;
  }
  expect(err?.message).toMatch(/entry 1 is not '<id>:<base64 key>'/);
  expect(err?.message).not.toContain(bare);
  expect(() => parseKeyRing(' , ')).toThrow(/holds no key/);
});
