import { randomBytes } from 'node:crypto';

/** Secret holding the payload encryption keys: `k2:<base64 32 bytes>,k1:<base64 32 bytes>`; the first one encrypts. */
export const PAYLOAD_KEYS_SECRET = 'FRESHLINE_PAYLOAD_KEYS';

/** AES-256 key length in bytes. */
const KEY_BYTES = 32;
const KEY_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** The keys a codec holds: `current` encrypts, every key in `keys` decrypts (rotation keeps old ones here). */
export interface KeyRing {
  current: string;
  keys: ReadonlyMap<string, Buffer>;
}

/**
 * Parses the secret's text into a key ring. Entries are `<id>:<base64 of 32 bytes>` separated by commas
 * or whitespace. Errors name the secret and the key id (or the entry's position), never key material.
 */
export function parseKeyRing(text: string, secretName = PAYLOAD_KEYS_SECRET): KeyRing {
  const entries = text.split(/[\s,]+/).filter(Boolean);
  if (!entries.length)
    throw new Error(
      `secret '${secretName}' holds no key (expected '<id>:<base64 of ${KEY_BYTES} bytes>', several comma-separated, the first encrypts)`,
    );
  const keys = new Map<string, Buffer>();
  entries.forEach((entry, i) => {
    const colon = entry.indexOf(':');
    const id = colon < 0 ? '' : entry.slice(0, colon);
    // An entry without a valid id may be a bare key: report its position only.
    if (!KEY_ID.test(id))
      throw new Error(
        `secret '${secretName}' entry ${i + 1} is not '<id>:<base64 key>' with an id of letters, digits, '.', '_' or '-'`,
      );
    if (keys.has(id)) throw new Error(`secret '${secretName}' names key '${id}' twice`);
    const b64 = entry.slice(colon + 1);
    const key = BASE64.test(b64) ? Buffer.from(b64, 'base64') : undefined;
    if (!key || key.length !== KEY_BYTES) {
      throw new Error(
        `secret '${secretName}' key '${id}' is not base64 of ${KEY_BYTES} bytes (generate one with: openssl rand -base64 ${KEY_BYTES})`,
      );
    }
    keys.set(id, key);
  });
  return { current: entries[0].slice(0, entries[0].indexOf(':')), keys };
}

/** A new secret value with one random key (`<id>:<base64>`), for the embedded default's per-run key. */
export function newPayloadKeys(id = 'k1'): string {
  if (!KEY_ID.test(id)) throw new Error(`payload key id '${id}' must be letters, digits, '.', '_' or '-'`);
  return `${id}:${randomBytes(KEY_BYTES).toString('base64')}`;
}
