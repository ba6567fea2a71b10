import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { METADATA_ENCODING_KEY, type DataConverter, type Payload, type PayloadCodec } from '@temporalio/common';
// A dependency of @temporalio/common at its exact version: the Payload protobuf the encrypted envelope holds.
import { temporal } from '@temporalio/proto';
import type { SecretStore } from '../activities/secrets/secret-store';
import { PAYLOAD_KEYS_SECRET, parseKeyRing, type KeyRing } from './keys';

/** `encoding` metadata of an encrypted payload. */
export const ENCODING_ENCRYPTED = 'binary/encrypted';
/** Metadata naming the key a payload was encrypted with. */
export const METADATA_KEY_ID = 'encryption-key-id';

const CIPHER = 'aes-256-gcm';
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** An unknown key id re-reads the secret (a rotation may have added it) at most this often. */
const RELOAD_INTERVAL_MS = 10_000;
const ProtoPayload = temporal.api.common.v1.Payload;

/** A payload that cannot be decrypted: unknown key id, truncated or tampered with. Names the key id, never the key. */
export class PayloadDecryptionError extends Error {
  constructor(
    message: string,
    readonly keyId?: string,
  ) {
    super(message);
    this.name = 'PayloadDecryptionError';
  }
}

/**
 * Temporal PayloadCodec that encrypts every payload with AES-256-GCM. The whole payload (metadata and data,
 * as protobuf) becomes the ciphertext; the wire payload carries only `encoding: binary/encrypted` and the
 * key id. Data is `iv (12 bytes) | ciphertext | tag (16 bytes)`, the key id is authenticated as AAD.
 */
export class PayloadEncryptionCodec implements PayloadCodec {
  private ring: KeyRing;
  private lastReload = 0;

  constructor(
    ring: KeyRing,
    private readonly source: { secretName: string; reload?: () => Promise<KeyRing> } = {
      secretName: PAYLOAD_KEYS_SECRET,
    },
  ) {
    this.ring = ring;
  }

  /** Reads the key ring from the secret store; fails naming the secret when it is missing or malformed. */
  static async fromSecrets(secrets: SecretStore, secretName = PAYLOAD_KEYS_SECRET): Promise<PayloadEncryptionCodec> {
    const load = async (): Promise<KeyRing> => {
      let text: string;
      try {
        text = await secrets.get(secretName);
      } catch (err) {
        throw new Error(
          `payload encryption needs secret '${secretName}' ('<id>:<base64 of 32 bytes>', comma-separated, the first encrypts): ${(err as Error).message}`,
          { cause: err },
        );
      }
      return parseKeyRing(text, secretName);
    };
    const reload = async () => {
      await secrets.refresh?.(secretName);
      return load();
    };
    return new PayloadEncryptionCodec(await load(), { secretName, reload });
  }

  /** Id of the key new payloads are encrypted with. */
  get currentKeyId(): string {
    return this.ring.current;
  }

  /** Ids of every key this codec decrypts with. */
  get keyIds(): string[] {
    return [...this.ring.keys.keys()];
  }

  /** Encrypts each payload with the current key. */
  async encode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => this.encrypt(payload));
  }

  /** Decrypts encrypted payloads with the key their metadata names; other payloads pass through unchanged. */
  async decode(payloads: Payload[]): Promise<Payload[]> {
    const out: Payload[] = [];
    for (const payload of payloads) out.push(await this.decrypt(payload));
    return out;
  }

  private encrypt(payload: Payload): Payload {
    const keyId = this.ring.current;
    const key = this.ring.keys.get(keyId) as Buffer;
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv(CIPHER, key, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(Buffer.from(keyId, 'utf8'));
    const plain = ProtoPayload.encode(payload).finish();
    const data = Buffer.concat([iv, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
    return {
      metadata: {
        [METADATA_ENCODING_KEY]: Buffer.from(ENCODING_ENCRYPTED),
        [METADATA_KEY_ID]: Buffer.from(keyId, 'utf8'),
      },
      data,
    };
  }

  private async decrypt(payload: Payload): Promise<Payload> {
    const meta = payload.metadata ?? {};
    const encoding = meta[METADATA_ENCODING_KEY];
    if (!encoding || Buffer.from(encoding).toString('utf8') !== ENCODING_ENCRYPTED) return payload;
    const idBytes = meta[METADATA_KEY_ID];
    if (!idBytes)
      throw new PayloadDecryptionError(
        `encrypted payload has no '${METADATA_KEY_ID}' metadata, so no key can decrypt it`,
      );
    const keyId = Buffer.from(idBytes).toString('utf8');
    const key = await this.keyFor(keyId);
    const data = Buffer.from(payload.data ?? new Uint8Array());
    if (data.length < IV_BYTES + TAG_BYTES) {
      throw new PayloadDecryptionError(
        `payload encrypted with key '${keyId}' is truncated (${data.length} bytes, less than IV and tag)`,
        keyId,
      );
    }
    const decipher = createDecipheriv(CIPHER, key, data.subarray(0, IV_BYTES), { authTagLength: TAG_BYTES });
    decipher.setAAD(Buffer.from(keyId, 'utf8'));
    decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
    let plain: Buffer;
    try {
      plain = Buffer.concat([decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)), decipher.final()]);
    } catch {
      throw new PayloadDecryptionError(
        `payload encrypted with key '${keyId}' failed AES-256-GCM authentication: its ciphertext or key id was altered, ` +
          `or '${this.source.secretName}' holds a different key under the id '${keyId}' than the one it was encrypted with`,
        keyId,
      );
    }
    return ProtoPayload.decode(plain);
  }

  /** The key with this id; an unknown id first re-reads the secret (rotation), at most every 10 s. */
  private async keyFor(keyId: string): Promise<Buffer> {
    let key = this.ring.keys.get(keyId);
    if (!key && this.source.reload && Date.now() - this.lastReload >= RELOAD_INTERVAL_MS) {
      this.lastReload = Date.now();
      // A secret store that is down keeps the keys we have; the error below still names the missing id.
      this.ring = await this.source.reload().catch(() => this.ring);
      key = this.ring.keys.get(keyId);
    }
    if (!key) {
      throw new PayloadDecryptionError(
        `payload was encrypted with key '${keyId}', which secret '${this.source.secretName}' does not hold ` +
          `(it holds: ${this.keyIds.join(', ')}); add '${keyId}' back after the current key to read it`,
        keyId,
      );
    }
    return key;
  }
}

/** Path of the failure converter module, for data converters and workflow bundles (it runs in both). */
export const FAILURE_CONVERTER_PATH = require.resolve('./failure-converter');

/** The data converter over `codec`: default payload converter, failure messages encoded so the codec covers them. */
export function dataConverterWith(codec: PayloadCodec): DataConverter {
  return { payloadCodecs: [codec], failureConverterPath: FAILURE_CONVERTER_PATH };
}

/** The data converter every Freshline worker and client uses: encryption codec from `secrets`, failures encoded. */
export async function payloadDataConverter(secrets: SecretStore): Promise<DataConverter> {
  return dataConverterWith(await PayloadEncryptionCodec.fromSecrets(secrets));
}
