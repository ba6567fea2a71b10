import { createHmac, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pool } from 'pg';
import {
  captureChanges,
  confirmCdc,
  ensureCdcStream,
  slotHealth,
  type CdcCapture,
  type CdcStream,
} from '../../activities/sources/postgres/cdc';
import { LocalObjectStore } from '../../activities/storage/local';
import { DuckDbWarehouse } from '../../activities/warehouse/engines/duckdb';
import type { Row } from '../../activities/warehouse/warehouse';
import { createDemoSchema, seedDemoData } from '../../infra/demo-oltp/generator';
import { createDatabase } from '../../infra/local/postgres';
import { testEnv } from '../support/env';

// Slots are cluster-wide (the database is per test file, the cluster is shared by the run).
const SLOT = 'freshline_t_cdc';
const ORDERS = { schema: 'shop', name: 'orders', primaryKey: ['order_id'], pii: [], exclude: [] };
const CUSTOMERS = {
  schema: 'shop',
  name: 'customers',
  primaryKey: ['customer_id'],
  pii: ['email', 'phone', 'full_name', 'address'],
  exclude: [],
};
const PAYMENTS = { schema: 'shop', name: 'payments', primaryKey: ['payment_id'], pii: [], exclude: ['card_token'] };
const stream: CdcStream = { slot: SLOT, publication: 'freshline_t_cdc', tables: [ORDERS, CUSTOMERS, PAYMENTS] };

let adminPool: Pool;
let url: string;
let pool: Pool;
let db: DuckDbWarehouse;
let stage: LocalObjectStore;
let tmp: string;
const piiKey = randomBytes(32).toString('hex');
const hmac = (value: string) => createHmac('sha256', piiKey).update(value).digest('hex');

async function dropSlot(slot: string): Promise<void> {
  await adminPool.query('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1', [
    slot,
  ]);
}

function capture(prefix: string, extra: Partial<Parameters<typeof captureChanges>[0]> = {}): Promise<CdcCapture> {
  return captureChanges({
    url,
    stream,
    stage,
    converter: db,
    scratchDir: join(tmp, 'scratch'),
    piiKey,
    keyPrefix: `shop/cdc/${prefix}`,
    ...extra,
  });
}

/** The staged rows of one table in a capture, in WAL order. */
async function rowsOf(cap: CdcCapture, table: string): Promise<Row[]> {
  const keys = cap.tables.find((t) => t.table === table)!.keys;
  if (keys.length === 0) return [];
  const files = keys.map((k) => `'${stage.uriFor(k)}'`).join(', ');
  return db.query(`SELECT * FROM read_parquet([${files}]) ORDER BY _lsn, _op`);
}

/** (table, key, op, lsn) of every staged change: what must match across re-delivery. */
async function changeSet(cap: CdcCapture): Promise<string[]> {
  const out: string[] = [];
  for (const t of cap.tables) {
    const pk = stream.tables.find((s) => s.name === t.table)!.primaryKey[0];
    for (const r of await rowsOf(cap, t.table))
      out.push(`${t.table}:${String(r[pk])}:${String(r._op)}:${String(r._lsn)}`);
  }
  return out.sort();
}

beforeAll(async () => {
  adminPool = new Pool({ connectionString: testEnv('pgAdminUrl'), max: 2 });
  await dropSlot(SLOT); // a slot left by an aborted run would block DROP DATABASE
  await dropSlot('freshline_t_cdc_bad');
  url = await createDatabase(testEnv('pgAdminUrl'), 't_cdc');
  pool = new Pool({ connectionString: url, max: 4 });
  pool.on('error', () => undefined);
  await createDemoSchema(pool);
  await seedDemoData(pool, { customers: 30, orders: 60, seed: 7 });
  db = await DuckDbWarehouse.open(':memory:');
  tmp = mkdtempSync(join(tmpdir(), 'freshline-cdc-test-'));
  stage = new LocalObjectStore(join(tmp, 'stage'));
});

afterAll(async () => {
  await dropSlot(SLOT).catch(() => undefined);
  await dropSlot('freshline_t_cdc_bad').catch(() => undefined);
  await pool?.end();
  await adminPool?.end();
  await db?.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

test('ensureCdcStream is idempotent and adds missing tables to an existing publication', async () => {
  expect(await ensureCdcStream(url, { ...stream, tables: [ORDERS, CUSTOMERS] })).toEqual({
    slotCreated: true,
    publicationCreated: true,
  });
  expect(await ensureCdcStream(url, stream)).toEqual({ slotCreated: false, publicationCreated: false });
  expect(await ensureCdcStream(url, stream)).toEqual({ slotCreated: false, publicationCreated: false });

  const slots = await pool.query('SELECT plugin, slot_type FROM pg_replication_slots WHERE slot_name = $1', [SLOT]);
  expect(slots.rows).toEqual([{ plugin: 'pgoutput', slot_type: 'logical' }]);
  const pubs = await pool.query('SELECT count(*)::int AS n FROM pg_publication WHERE pubname = $1', [
    stream.publication,
  ]);
  expect(pubs.rows[0].n).toBe(1);
  const members = await pool.query('SELECT tablename FROM pg_publication_tables WHERE pubname = $1 ORDER BY 1', [
    stream.publication,
  ]);
  expect(members.rows.map((r) => r.tablename)).toEqual(['customers', 'orders', 'payments']);
});

test('ensureCdcStream refuses a table whose deletes would arrive without their key, creating nothing', async () => {
  await pool.query('CREATE TABLE shop.no_identity (id int PRIMARY KEY, v text)');
  await pool.query('ALTER TABLE shop.no_identity REPLICA IDENTITY NOTHING');
  const bad: CdcStream = {
    slot: 'freshline_t_cdc_bad',
    publication: 'freshline_t_cdc_bad',
    tables: [{ schema: 'shop', name: 'no_identity', primaryKey: ['id'], pii: [], exclude: [] }],
  };
  await expect(ensureCdcStream(url, bad)).rejects.toThrow(
    /replica identity of shop\.no_identity \(NOTHING\) does not cover its primary key \(id\)/,
  );
  expect((await slotHealth(url, bad.slot)).exists).toBe(false);
});

let first: CdcCapture;
let ada: { customerId: string; orderId: string };
const ADDRESS = '12 St James\'s Square, "Flat 2"\nLondon'; // quotes, comma and newline round-trip through the CSV

test('inserts, updates and deletes arrive with their op, exact values, tombstones and PII only as tokens', async () => {
  const client = await pool.connect();
  let txStart: Date;
  let afterAll: Date;
  try {
    await client.query('BEGIN');
    txStart = (await client.query('SELECT now() AS t')).rows[0].t;
    const c = await client.query(
      `INSERT INTO shop.customers (email, phone, full_name, address, city) VALUES ($1, $2, $3, $4, 'London') RETURNING customer_id::text AS id`,
      ['ada@example.com', '+44 20 7946 0018', 'Ada Lovelace', ADDRESS],
    );
    const o = await client.query(
      `INSERT INTO shop.orders (order_number, customer_id, store_id, channel, status, ordered_at, order_date, subtotal, discount, tax, shipping, total)
       VALUES ('CDC-1', $1, (SELECT min(store_id) FROM shop.stores), 'online', 'placed', '2026-01-02 03:04:05.123456+00', '2026-01-02',
               1234567890.12, 0, 0.99, 4.99, 1234567896.10) RETURNING order_id::text AS id`,
      [c.rows[0].id],
    );
    await client.query('COMMIT');
    ada = { customerId: c.rows[0].id, orderId: o.rows[0].id };
    await client.query('BEGIN');
    await client.query(`UPDATE shop.orders SET status = 'paid', tax = 1.01 WHERE order_id = $1`, [ada.orderId]);
    await client.query(`UPDATE shop.customers SET email = 'ada@lovelace.org' WHERE customer_id = $1`, [ada.customerId]);
    await client.query('COMMIT');
    await client.query('DELETE FROM shop.orders WHERE order_id = $1', [ada.orderId]);
    await client.query(
      `INSERT INTO shop.payments (order_id, method, card_brand, card_last4, card_token, amount, status, paid_at)
       VALUES ((SELECT min(order_id) FROM shop.orders), 'card', 'visa', '4242', 'tok_must_not_leave', 10.00, 'captured', now())`,
    );
    afterAll = (await client.query('SELECT clock_timestamp() AS t')).rows[0].t;
  } finally {
    client.release();
  }

  first = await capture('first');
  expect(first.changes).toBe(6);
  const orders = first.tables.find((t) => t.table === 'orders')!;
  expect([orders.inserts, orders.updates, orders.deletes, orders.rows]).toEqual([1, 1, 1, 3]);
  expect(orders.keys).toEqual(['shop/cdc/first/shop.orders/changes.parquet']);

  const o = await rowsOf(first, 'orders');
  expect(o.map((r) => [r.order_id, r._op, r._deleted])).toEqual([
    [ada.orderId, 'I', false],
    [ada.orderId, 'U', false],
    [ada.orderId, 'D', true],
  ]);
  expect(o[0]).toMatchObject({
    status: 'placed',
    subtotal: '1234567890.12',
    tax: '0.99',
    total: '1234567896.10',
    ordered_at: '2026-01-02 03:04:05.123456+00',
    order_date: '2026-01-02',
    currency: 'USD',
  });
  expect(o[1]).toMatchObject({ status: 'paid', tax: '1.01', subtotal: '1234567890.12' });
  // Tombstone: the key from REPLICA IDENTITY DEFAULT, every other source column NULL.
  const sourceColumns = orders.columns.map((c) => c.name);
  expect(Object.fromEntries(sourceColumns.map((c) => [c, o[2][c]]))).toEqual({
    ...Object.fromEntries(sourceColumns.map((c) => [c, null])),
    order_id: ada.orderId,
  });
  for (const r of o) expect(r._lsn).toMatch(/^[0-9A-F]{8}\/[0-9A-F]{8}$/);
  expect(new Set(o.map((r) => r._lsn)).size).toBe(3);

  const types = Object.fromEntries(
    (
      await db.query<{ column_name: string; column_type: string }>(
        `DESCRIBE SELECT * FROM read_parquet('${stage.uriFor(orders.keys[0])}')`,
      )
    ).map((r) => [r.column_name, r.column_type]),
  );
  expect(types).toMatchObject({
    order_id: 'BIGINT',
    subtotal: 'DECIMAL(12,2)',
    ordered_at: 'TIMESTAMP WITH TIME ZONE',
    order_date: 'DATE',
    _op: 'VARCHAR',
    _deleted: 'BOOLEAN',
    _lsn: 'VARCHAR',
    _commit_ts: 'TIMESTAMP WITH TIME ZONE',
  });
  expect(orders.columns.find((c) => c.name === 'subtotal')).toEqual({
    name: 'subtotal',
    sourceType: 'numeric(12,2)',
    type: 'DECIMAL(12,2)',
  });

  // Commit timestamps: the transaction's, shared by its changes, within the wall-clock bounds.
  const customers = await rowsOf(first, 'customers');
  expect(customers.map((r) => r._op)).toEqual(['I', 'U']);
  expect(customers[0]._commit_ts).toBe(o[0]._commit_ts);
  expect(customers[1]._commit_ts).toBe(o[1]._commit_ts);
  for (const r of [...o, ...customers]) {
    const ts = Date.parse(String(r._commit_ts).replace(' ', 'T').replace('+00', 'Z'));
    expect(ts).toBeGreaterThanOrEqual(txStart!.getTime());
    expect(ts).toBeLessThanOrEqual(afterAll!.getTime() + 1);
  }

  // PII: tokens equal to Node's HMAC-SHA256; non-PII columns stay readable.
  expect(customers[0]).toMatchObject({
    customer_id: ada.customerId,
    email: hmac('ada@example.com'),
    phone: hmac('+44 20 7946 0018'),
    full_name: hmac('Ada Lovelace'),
    address: hmac(ADDRESS),
    city: 'London',
  });
  expect(customers[1].email).toBe(hmac('ada@lovelace.org'));

  // Excluded columns never reach the stage.
  const payments = first.tables.find((t) => t.table === 'payments')!;
  expect(payments.columns.map((c) => c.name)).not.toContain('card_token');
  const p = await rowsOf(first, 'payments');
  expect(p).toHaveLength(1);
  expect(Object.keys(p[0])).not.toContain('card_token');

  // No plain PII or excluded value in any staged file, and nothing left in scratch.
  const everything = JSON.stringify(await Promise.all(first.tables.map((t) => rowsOf(first, t.table))));
  for (const plain of ['ada@example.com', 'ada@lovelace.org', 'Lovelace', 'James', '20 7946', 'tok_must_not_leave'])
    expect(everything).not.toContain(plain);
  expect(existsSync(join(tmp, 'scratch')) ? readdirSync(join(tmp, 'scratch')) : []).toEqual([]);
});

test('no loss, no duplicates: unconfirmed changes are re-delivered, confirmed ones never again', async () => {
  // Crash before confirm: the next capture re-delivers exactly the same changes.
  const again = await capture('again');
  expect(again.startLsn).toBe(first.startLsn);
  expect(await changeSet(again)).toEqual(await changeSet(first));

  await confirmCdc(url, SLOT, again.endLsn);
  await confirmCdc(url, SLOT, again.endLsn); // a retried confirm is a no-op
  expect((await slotHealth(url, SLOT)).confirmedFlushLsn).toBe(again.endLsn);

  await pool.query(
    'UPDATE shop.orders SET discount = discount + 0.01 WHERE order_id = (SELECT min(order_id) FROM shop.orders)',
  );
  const next = await capture('next');
  expect(next.startLsn).toBe(again.endLsn);
  expect(next.changes).toBe(1);
  const seen = new Set(await changeSet(first));
  for (const c of await changeSet(next)) expect(seen.has(c)).toBe(false);
  await confirmCdc(url, SLOT, next.endLsn);
});

test('changes committed while a capture runs land in exactly one of two consecutive captures', async () => {
  const { rows } = await pool.query<{ id: string }>('SELECT min(order_id)::text AS id FROM shop.orders');
  const orderId = rows[0].id;
  let k = 0;
  let stopAfter = Infinity;
  // Each UPDATE is its own transaction writing shipping = k/100, so every committed change is identifiable.
  const writer = (async () => {
    while (k < stopAfter) {
      k++;
      await pool.query('UPDATE shop.orders SET shipping = $1::numeric / 100 WHERE order_id = $2', [k, orderId]);
    }
  })();
  while (k < 10) await new Promise((r) => setTimeout(r, 5));
  const during = await capture('during');
  stopAfter = k + 20;
  await writer;
  await confirmCdc(url, SLOT, during.endLsn);
  const after = await capture('after');
  await confirmCdc(url, SLOT, after.endLsn);

  const values = async (cap: CdcCapture) =>
    (await rowsOf(cap, 'orders'))
      .filter((r) => r.order_id === orderId)
      .map((r) => Math.round(Number(r.shipping) * 100));
  const a = await values(during);
  const b = await values(after);
  expect(a.length).toBeGreaterThan(0);
  expect(b.length).toBeGreaterThan(0);
  expect([...a, ...b]).toEqual(Array.from({ length: k }, (_, i) => i + 1)); // each exactly once, in commit order
});

test('a primary-key change retires the old key with a tombstone', async () => {
  await pool.query('UPDATE shop.customers SET customer_id = 900001 WHERE customer_id = $1', [ada.customerId]);
  const cap = await capture('rekey');
  const rows = await rowsOf(cap, 'customers');
  expect(rows.map((r) => [r.customer_id, r._op, r._deleted])).toEqual([
    [ada.customerId, 'D', true],
    ['900001', 'U', false],
  ]);
  expect(rows[0]._lsn).toBe(rows[1]._lsn);
  await confirmCdc(url, SLOT, cap.endLsn);
});

test('an idle slot returns promptly with zero changes, also after unrelated WAL', async () => {
  // "Promptly" = long before the capture's own deadline (what a stuck reader would wait for), not a number of
  // seconds that a busy box could exceed.
  const maxWaitMs = 150_000;
  let t = Date.now();
  const idle = await capture('idle', { maxWaitMs });
  expect(Date.now() - t).toBeLessThan(maxWaitMs / 2);
  expect(idle.changes).toBe(0);
  expect(idle.tables.every((x) => x.keys.length === 0)).toBe(true);

  // WAL the slot must read past but that holds nothing for it (a table outside the publication).
  await pool.query("UPDATE shop.stores SET name = name || ' '");
  t = Date.now();
  const unrelated = await capture('unrelated', { maxWaitMs });
  expect(Date.now() - t).toBeLessThan(maxWaitMs / 2);
  expect(unrelated.changes).toBe(0);
  expect(unrelated.endLsn).not.toBe(unrelated.startLsn);
  await confirmCdc(url, SLOT, unrelated.endLsn);
});

test('slotHealth reports retained WAL growing while the slot is not confirmed', async () => {
  const before = await slotHealth(url, SLOT);
  expect(before).toMatchObject({ exists: true, active: false });
  for (let i = 0; i < 3; i++) await pool.query('UPDATE shop.orders SET tax = tax + 0.01');
  const grown = await slotHealth(url, SLOT);
  expect(grown.retainedWalBytes).toBeGreaterThan(before.retainedWalBytes);
  expect(grown.lagBytes).toBeGreaterThan(before.lagBytes);
  expect(grown.confirmedFlushLsn).toBe(before.confirmedFlushLsn);

  const progress: { changes: number; lsn: string }[] = [];
  const cap = await capture('health', { heartbeat: (p) => progress.push(p) });
  expect(cap.changes).toBe(180); // 60 orders × 3 statements
  await confirmCdc(url, SLOT, cap.endLsn);
  const caught = await slotHealth(url, SLOT);
  expect(caught.confirmedFlushLsn).toBe(cap.endLsn);
  expect(caught.lagBytes).toBeLessThan(grown.lagBytes);
  expect(await slotHealth(url, 'freshline_no_such_slot')).toEqual({
    exists: false,
    active: false,
    confirmedFlushLsn: null,
    retainedWalBytes: 0,
    lagBytes: 0,
  });
});

test('a large capture heartbeats every 10k changes and stages each change once', async () => {
  // 250 statements × 60 orders in one transaction: 15,000 changes.
  await pool.query('DO $$ BEGIN FOR i IN 1..250 LOOP UPDATE shop.orders SET tax = tax + 0.01; END LOOP; END $$');
  const progress: { changes: number; lsn: string }[] = [];
  const cap = await capture('large', { heartbeat: (p) => progress.push(p) });
  expect(cap.changes).toBe(15_000);
  expect(progress.map((p) => p.changes)).toEqual([10_000]);
  const key = cap.tables.find((t) => t.table === 'orders')!.keys[0];
  const [stats] = await db.query(
    `SELECT count(*)::INTEGER AS n, count(DISTINCT (order_id, _lsn))::INTEGER AS d FROM read_parquet('${stage.uriFor(key)}')`,
  );
  expect(stats).toEqual({ n: 15_000, d: 15_000 });
  await confirmCdc(url, SLOT, cap.endLsn);
});

test('a capture cut short by maxWaitMs ends on a transaction boundary and the next capture continues', async () => {
  // 10 transactions × 100 statements × 60 orders = 6,000 changes each.
  for (let i = 0; i < 10; i++)
    await pool.query('DO $$ BEGIN FOR i IN 1..100 LOOP UPDATE shop.orders SET tax = tax + 0.01; END LOOP; END $$');
  const partial = await capture('partial', { maxWaitMs: 0 });
  expect(partial.changes).toBeLessThanOrEqual(6_000);
  expect(partial.changes % 6_000).toBe(0);
  await confirmCdc(url, SLOT, partial.endLsn);
  const rest = await capture('rest');
  expect(rest.startLsn).toBe(partial.endLsn);
  expect(partial.changes + rest.changes).toBe(60_000);
  expect(new Set([...(await changeSet(partial)), ...(await changeSet(rest))]).size).toBe(60_000);
  await confirmCdc(url, SLOT, rest.endLsn);
});

test('a column added between changes of one capture is staged, NULL for the earlier rows', async () => {
  await pool.query("UPDATE shop.customers SET city = 'Paris' WHERE customer_id = 900001");
  await pool.query('ALTER TABLE shop.customers ADD COLUMN loyalty_tier text');
  await pool.query("UPDATE shop.customers SET city = 'Rome', loyalty_tier = 'gold' WHERE customer_id = 900001");
  const cap = await capture('drift');
  const customers = cap.tables.find((t) => t.table === 'customers')!;
  expect(customers.columns.at(-1)).toEqual({ name: 'loyalty_tier', sourceType: 'text', type: 'VARCHAR' });
  const rows = await rowsOf(cap, 'customers');
  expect(rows.map((r) => [r.city, r.loyalty_tier, r.email])).toEqual([
    ['Paris', null, hmac('ada@lovelace.org')],
    ['Rome', 'gold', hmac('ada@lovelace.org')],
  ]);
  await confirmCdc(url, SLOT, cap.endLsn);
});

test('TRUNCATE arrives as a marker row instead of being lost', async () => {
  await pool.query('TRUNCATE shop.payments CASCADE');
  const cap = await capture('truncate');
  const payments = cap.tables.find((t) => t.table === 'payments')!;
  expect(payments.truncates).toBe(1);
  const rows = await rowsOf(cap, 'payments');
  expect(rows.map((r) => [r.payment_id, r._op, r._deleted])).toEqual([[null, 'T', true]]);
  await confirmCdc(url, SLOT, cap.endLsn);
});

test('errors name the problem, never the connection URL or its password', async () => {
  const withPassword = new URL(url);
  withPassword.password = 'hunter2-very-secret'; // trust auth: the server accepts any password
  const secretUrl = withPassword.toString();
  const err = await captureChanges({
    url: secretUrl,
    stream: { ...stream, slot: 'freshline_no_such_slot' },
    stage,
    converter: db,
    scratchDir: join(tmp, 'scratch'),
    piiKey,
    keyPrefix: 'shop/cdc/missing',
  }).catch((e: Error) => e);
  expect(err).toBeInstanceOf(Error);
  expect((err as Error).message).toMatch(/slot 'freshline_no_such_slot' does not exist/);
  const refused = new URL(secretUrl);
  refused.port = '1';
  const err2 = await slotHealth(refused.toString(), SLOT).catch((e: Error) => e);
  for (const e of [err, err2] as Error[]) {
    expect(e.message).not.toContain('hunter2');
    expect(e.message).not.toContain(secretUrl);
    expect(String(e.stack)).not.toContain('hunter2');
  }
});
