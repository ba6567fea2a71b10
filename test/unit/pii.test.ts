import { createHmac } from 'node:crypto';
import { DuckDbWarehouse } from '../../activities/warehouse/engines/duckdb';
import { hmacExpression, piiKeyJoin, registerPiiKey } from '../../activities/sources/postgres/pii';

let db: DuckDbWarehouse;
beforeAll(async () => {
  db = await DuckDbWarehouse.open(':memory:');
});
afterAll(() => db.close());

test.each([
  ['a short key', 'k3y'],
  ['a 64-byte key', 'x'.repeat(64)],
  ['a key longer than the SHA-256 block', 'long-secret-'.repeat(20)],
])('the encoder computes the same HMAC-SHA256 token as Node for %s', async (_label, key) => {
  const id = await registerPiiKey(db, key);
  const values = ['jane.doe@example.com', 'Zoë Ünïcode-Straße 5', '', '+1 (555) 010-0199'];
  const rows = await db.query<{ v: string | null; t: string | null }>(
    `SELECT v, ${hmacExpression('v')} AS t FROM (SELECT unnest($1::VARCHAR[]) AS v UNION ALL SELECT NULL) ${piiKeyJoin(id)} ORDER BY v NULLS LAST`,
    [`[${values.map((v) => `"${v}"`).join(',')}]`],
  );
  const expected = [...values].sort().map((v) => ({ v, t: createHmac('sha256', key).update(v).digest('hex') }));
  expect(rows).toEqual([...expected, { v: null, t: null }]);
});

test('the key id identifies a key without revealing it, and different keys give different tokens', async () => {
  const a = await registerPiiKey(db, 'key-a');
  const b = await registerPiiKey(db, 'key-b');
  expect(a).not.toBe(b);
  expect(a).not.toContain('key-a');
  const [ra] = await db.query(`SELECT ${hmacExpression('v')} AS t FROM (SELECT 'x' AS v) ${piiKeyJoin(a)}`);
  const [rb] = await db.query(`SELECT ${hmacExpression('v')} AS t FROM (SELECT 'x' AS v) ${piiKeyJoin(b)}`);
  expect(ra.t).not.toBe(rb.t);
});
