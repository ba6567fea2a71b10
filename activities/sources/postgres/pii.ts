import { createHash } from 'node:crypto';
import { quoteIdent, quoteLiteral } from '../../warehouse/sql';
import type { Warehouse } from '../../warehouse/warehouse';

const BLOCK = 64; // SHA-256 block size in bytes

/**
 * Registers an HMAC key with the Parquet encoder as its RFC 2104 inner and outer pads, passed as bind
 * parameters into a TEMP table (in memory, never in SQL text, logs or error messages). Returns the
 * key's id: a hash that identifies it without revealing it.
 */
export async function registerPiiKey(db: Warehouse, key: string): Promise<string> {
  let k = Buffer.from(key, 'utf8');
  if (k.length > BLOCK) k = createHash('sha256').update(k).digest();
  const block = Buffer.alloc(BLOCK);
  k.copy(block);
  const ipad = Buffer.from(block.map((b) => b ^ 0x36));
  const opad = Buffer.from(block.map((b) => b ^ 0x5c));
  const id = createHash('sha256').update('freshline-pii-key-id').update(k).digest('hex').slice(0, 16);
  await db.run(
    'CREATE TEMP TABLE IF NOT EXISTS _pii_keys (id VARCHAR PRIMARY KEY, ipad BLOB NOT NULL, opad BLOB NOT NULL)',
  );
  await db.run('INSERT OR REPLACE INTO _pii_keys VALUES ($1, unhex($2), unhex($3))', [
    id,
    ipad.toString('hex'),
    opad.toString('hex'),
  ]);
  return id;
}

/** SQL for HMAC-SHA256(key, column) as lower-case hex, the same token Node's createHmac gives; NULL stays NULL. */
export function hmacExpression(column: string, alias = 'k'): string {
  return `sha256(${alias}.opad || unhex(sha256(${alias}.ipad || encode(${quoteIdent(column)}))))`;
}

/** FROM-clause fragment that brings the registered key's pads into scope as `k`. */
export function piiKeyJoin(keyId: string): string {
  return `CROSS JOIN (SELECT ipad, opad FROM _pii_keys WHERE id = ${quoteLiteral(keyId, 'duckdb')}) AS k`;
}
