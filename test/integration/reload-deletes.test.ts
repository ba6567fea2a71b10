/**
 * A reload of a business-date partition brings certified back to what the source holds, on both engines
 * (DuckDB; Snowflake through the executing stand-in with the S3 stage): rows hard-deleted at the source — a
 * whole order with its lines, payments, refunds and shipments, and one line of another order — leave every
 * certified table; a payment changed without its updated_at moving is re-read through its order's business
 * date; and every SCD2 version raw holds survives windows re-run with the same bounds and the reload.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { Pool } from 'pg';
import { EnvSecretStore } from '../../activities/secrets/secret-store';
import { newPayloadKeys, PAYLOAD_KEYS_SECRET } from '../../codec/keys';
import { payloadDataConverter } from '../../codec/payload-codec';
import { loadConfig, parseConfig } from '../../config/load';
import { createDemoSchema, seedDemoData } from '../../infra/demo-oltp/generator';
import { createDatabase } from '../../infra/local/postgres';
import { openDeps, type WorkerDeps } from '../../workers/deps';
import { installRuntime } from '../../workers/runtime';
import { createFreshlineWorkers, type FreshlineWorkers } from '../../workers/worker';
import type { PipelineRunInput } from '../../workflows/input';
import { statusQuery } from '../../workflows/messages';
import { pipelineRun } from '../../workflows/pipeline-run';
import { startS3, type S3StandIn } from '../stand-ins/s3';
import { startSnowflakeStandIn, type SnowflakeStandIn } from '../stand-ins/snowflake';
import { testEnv } from '../support/env';
import { standInWarehouse } from '../support/snowflake-config';

jest.setTimeout(240_000);

const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const savedEnv = { ...process.env };
/** One payload key for the client and both sides' workers. */
const PAYLOAD_KEYS = newPayloadKeys('test');

let tmp: string;
let s3: S3StandIn;
let connection: Connection;
let client: Client;

beforeAll(async () => {
  installRuntime();
  tmp = mkdtempSync(join(tmpdir(), 'freshline-reload-deletes-'));
  s3 = await startS3();
  process.env.AWS_ACCESS_KEY_ID = s3.credentials.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = s3.credentials.secretAccessKey;
  connection = await Connection.connect({ address: testEnv('temporalAddress') });
}, 60_000);

afterAll(async () => {
  await connection?.close();
  await s3?.close();
  process.env = savedEnv;
  rmSync(tmp, { recursive: true, force: true });
});

/** One engine's side: a seeded source, a worker on that engine's adapters, and a reader of its certified tables. */
interface Side {
  pool: Pool;
  taskQueue: string;
  window: { start: string; end: string };
  certified(sql: string): Promise<Record<string, unknown>[]>;
  close(): Promise<void>;
}

async function openSide(engine: 'duckdb' | 'snowflake'): Promise<Side> {
  const url = await createDatabase(testEnv('pgAdminUrl'), `t_reload_deletes_${engine}`);
  const pool = new Pool({ connectionString: url, max: 2 });
  pool.on('error', () => undefined);
  await createDemoSchema(pool);
  await seedDemoData(pool, { customers: 60, orders: 300, seed: 23 });
  const { rows } = await pool.query<{ t: Date }>("SELECT date_trunc('minute', max(updated_at)) AS t FROM shop.orders");
  // Window ids are shared with every file on this Temporal server: an offset of this file's own.
  const end = rows[0].t.getTime() - (engine === 'duckdb' ? 31_000 : 37_000) + 15 * 60_000;
  const window = { start: new Date(end - 3_600_000).toISOString(), end: new Date(end).toISOString() };
  const secrets = {
    SHOP_DB_URL: url,
    FRESHLINE_PII_HMAC_KEY: 'c'.repeat(64),
    SF_LOADER_KEY: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    [PAYLOAD_KEYS_SECRET]: PAYLOAD_KEYS,
  };
  client ??= new Client({ connection, dataConverter: await payloadDataConverter(new EnvSecretStore(secrets)) });
  let stand: SnowflakeStandIn | undefined;
  let over: Record<string, unknown> = {};
  if (engine === 'snowflake') {
    stand = await startSnowflakeStandIn({
      account: 'FRESHLINE_TEST',
      users: [{ name: 'LOADER', publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString() }],
      execute: { readStageFile: (u) => s3.read(u) },
    });
    over = {
      warehouse: standInWarehouse(stand.url, `s3://${s3.bucket}/reload-deletes/`),
      stage: { type: 's3', bucket: s3.bucket, prefix: 'reload-deletes', region: s3.region, endpoint: s3.endpoint },
    };
  }
  const deps: WorkerDeps = await openDeps({
    dataDir: join(tmp, engine),
    config: parseConfig({ ...loadConfig(), ...over }),
    secrets: new EnvSecretStore(secrets),
  });
  const native = await NativeConnection.connect({ address: testEnv('temporalAddress') });
  const taskQueue = `test-reload-deletes-${engine}-${process.pid}`;
  const worker: FreshlineWorkers = await createFreshlineWorkers({
    connection: native,
    deps,
    taskQueue,
    workflowBundle: { codePath: testEnv('bundlePath') },
  });
  const running = worker.run();
  return {
    pool,
    taskQueue,
    window,
    certified: (sql) => (stand ? stand.read(sql) : deps.warehouse.query(sql)),
    async close() {
      worker.shutdown();
      await running;
      await native.close();
      await deps.close();
      await stand?.close();
      await pool.end();
    },
  };
}

const ids = (rows: Record<string, unknown>[], column: string) => rows.map((r) => String(r[column])).sort();

describe.each(['duckdb', 'snowflake'] as const)('%s', (engine) => {
  let side: Side;
  beforeAll(async () => {
    side = await openSide(engine);
  }, 120_000);
  afterAll(async () => side?.close());

  const run = async (id: string, input: Partial<PipelineRunInput> = {}) => {
    const handle = await client.workflow.start(pipelineRun, {
      taskQueue: side.taskQueue,
      workflowId: `reload-deletes-${engine}-${id}-${process.pid}`,
      args: [{ dataset: 'sales_core', window: side.window, gateTimeout: '30s', ...input }],
    });
    const summary = await handle.result();
    return { summary, status: await handle.query(statusQuery) };
  };

  test('a reloaded day: source deletes leave certified, a silent child change arrives, SCD2 versions stay', async () => {
    const { pool } = side;
    expect((await run('initial')).summary.status).toBe('succeeded');

    // A second version of a customer, read by a window with the same bounds as the first (a re-run).
    const {
      rows: [cust],
    } = await pool.query<{ customer_id: string }>(
      'SELECT customer_id FROM shop.customers ORDER BY customer_id LIMIT 1',
    );
    await pool.query("UPDATE shop.customers SET city = 'Reykjavik' WHERE customer_id = $1", [cust.customer_id]);
    expect((await run('again')).summary.status).toBe('succeeded');

    // The day to reload: the newest business day with at least three orders that have lines and payments.
    const { rows: orders } = await pool.query<{ order_id: string; order_date: string }>(
      `SELECT o.order_id, o.order_date::text AS order_date FROM shop.orders AS o
        WHERE o.order_date = (SELECT max(order_date) FROM shop.orders AS x
                               WHERE (SELECT count(*) FROM shop.order_items AS i WHERE i.order_id = x.order_id) >= 2)
          AND EXISTS (SELECT 1 FROM shop.payments AS p WHERE p.order_id = o.order_id)
          AND (SELECT count(*) FROM shop.order_items AS i WHERE i.order_id = o.order_id) >= 2
        ORDER BY o.order_id LIMIT 3`,
    );
    expect(orders.length).toBe(3);
    const day = orders[0].order_date;
    const [gone, trimmed, silent] = orders.map((o) => o.order_id);
    // Hard deletes (a cursor never sees them): one order with everything under it, one line of another.
    const counted = await pool.query<{ items: string; payments: string; refunds: string; shipments: string }>(
      `SELECT (SELECT count(*) FROM shop.order_items WHERE order_id = $1) AS items,
              (SELECT count(*) FROM shop.payments WHERE order_id = $1) AS payments,
              (SELECT count(*) FROM shop.refunds WHERE order_id = $1) AS refunds,
              (SELECT count(*) FROM shop.shipments WHERE order_id = $1) AS shipments`,
      [gone],
    );
    const c = counted.rows[0];
    for (const t of ['refunds', 'shipments', 'payments', 'order_items', 'orders'])
      await pool.query(`DELETE FROM shop.${t} WHERE order_id = $1`, [gone]);
    await pool.query(
      'DELETE FROM shop.order_items WHERE order_item_id = (SELECT max(order_item_id) FROM shop.order_items WHERE order_id = $1)',
      [trimmed],
    );
    // A payment corrected without its updated_at moving: only a reload through its order's date sees it.
    await pool.query('ALTER TABLE shop.payments DISABLE TRIGGER touch_updated_at');
    await pool.query(
      "UPDATE shop.payments SET method = CASE WHEN method = 'paypal' THEN 'gift_card' ELSE 'paypal' END WHERE order_id = $1",
      [silent],
    );
    await pool.query('ALTER TABLE shop.payments ENABLE TRIGGER touch_updated_at');

    const next = new Date(Date.parse(`${day}T00:00:00Z`) + 86_400_000).toISOString();
    const reload = await run('reload', { mode: 'reload', window: { start: `${day}T00:00:00.000Z`, end: next } });
    expect(['succeeded', 'published_with_errors']).toContain(reload.summary.status);
    const expectedTombstones = 1 + Number(c.items) + 1 + Number(c.payments) + Number(c.refunds) + Number(c.shipments);
    expect(reload.status.steps.load?.counts?.tombstones).toBe(expectedTombstones);

    // Certified equals the source for the day, table by table.
    const dayOrders = `(SELECT order_id FROM shop.orders WHERE order_date = '${day}')`;
    const pairs: [string, string, string][] = [
      ['fct_orders', 'orders', 'order_id'],
      ['fct_order_items', 'order_items', 'order_item_id'],
      ['fct_payments', 'payments', 'payment_id'],
      ['fct_refunds', 'refunds', 'refund_id'],
      ['fct_shipments', 'shipments', 'shipment_id'],
    ];
    const { rows: dayIds } = await pool.query<{ order_id: string }>(
      `SELECT order_id FROM shop.orders WHERE order_date = $1`,
      [day],
    );
    const inDay = `(${[...dayIds.map((r) => r.order_id), gone].join(', ')})`;
    for (const [mart, table, key] of pairs) {
      const source = await pool.query(`SELECT ${key} FROM shop.${table} WHERE order_id IN ${dayOrders} ORDER BY 1`);
      const certified = await side.certified(`SELECT ${key} FROM certified.${mart} WHERE order_id IN ${inDay}`);
      expect({ mart, keys: ids(certified, key) }).toEqual({ mart, keys: ids(source.rows, key) });
    }
    const { rows: methods } = await pool.query(`SELECT payment_id, method FROM shop.payments WHERE order_id = $1`, [
      silent,
    ]);
    const certifiedMethods = await side.certified(
      `SELECT payment_id, method FROM certified.fct_payments WHERE order_id = ${Number(silent)}`,
    );
    expect(certifiedMethods.map((r) => `${String(r.payment_id)}:${String(r.method)}`).sort()).toEqual(
      methods.map((r) => `${String(r.payment_id)}:${String(r.method)}`).sort(),
    );
    // Both states of the customer: the re-run and the reload replaced versions, never dropped one.
    const versions = await side.certified(
      `SELECT city FROM certified.dim_customer WHERE customer_id = ${Number(cust.customer_id)}`,
    );
    expect(versions.length).toBe(2);
    expect(versions.map((v) => v.city)).toContain('Reykjavik');
  });
});
