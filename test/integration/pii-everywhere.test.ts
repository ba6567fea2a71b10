import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { LocalObjectStore } from '../../activities/storage/local';
import type { SourceTableConfig } from '../../config/schema';
import { statusQuery } from '../../workflows/messages';
import { createHarness, failureText, type Harness } from '../support/harness';
import { decodedHistoryText } from '../support/history';

/**
 * The whole tree, after runs that exercise every path a PII value could take: a second dataset declaring the
 * PII table (identically: the only way config accepts), a column added to the PII table, a source value the
 * warehouse cannot hold in that table (quarantined), and a run that fails on a check over the PII token.
 * No plain PII value may appear in the stage, any warehouse schema (audit and quarantine included), the
 * Tableau file, run status or the decoded Temporal history (payloads and failure messages).
 */

let h: Harness;
const workflowIds: string[] = [];
beforeAll(async () => {
  h = await createHarness('piiall', { customers: 60, orders: 200 }, (config) => {
    const customers = config.datasets[0].tables.find((t) => t.name === 'customers')!;
    config.datasets.push({
      ...structuredClone(config.datasets.find((d) => d.name === 'operations')!),
      name: 'marketing',
      tables: [structuredClone(customers) as SourceTableConfig],
      publish: ['dim_customer'],
      checks: [
        {
          name: 'customer_email_unique',
          type: 'unique',
          model: 'dim_customer',
          columns: ['email_token'],
          severity: 'critical',
        },
      ],
    } as never);
  });
  // Present before the first load (so part of the baseline): numeric, so it can hold NaN.
  await h.pool.query('ALTER TABLE shop.customers ADD COLUMN lifetime_value numeric');
});
afterAll(() => h?.close());

let minute = 0;
/** A fresh window each run (one minute earlier, still holding every change), so each run keeps its own history. */
function nextWindow() {
  minute += 1;
  return {
    start: new Date(Date.parse(h.window.start) - minute * 60_000).toISOString(),
    end: new Date(Date.parse(h.window.end) - minute * 60_000).toISOString(),
  };
}

async function run(input: Parameters<Harness['start']>[0] = {}) {
  const handle = await h.start({ window: nextWindow(), ...input });
  workflowIds.push(handle.workflowId);
  const result = await handle.result().then(
    (r) => ({ ok: true as const, r }),
    (e: unknown) => ({ ok: false as const, error: failureText(e) }),
  );
  return { handle, ...result };
}

test('runs that touch PII every way leave no plain PII value anywhere', async () => {
  const first = await run();
  expect(first.ok && first.r.status).toBe('succeeded');
  const second = await run({ dataset: 'marketing' });
  expect(second.ok && second.r.status).toBe('succeeded');

  // A value the warehouse cannot hold, in the PII table: quarantined by key, not quoted anywhere.
  await h.pool.query(`UPDATE shop.customers SET lifetime_value = 'NaN', updated_at = now() WHERE customer_id = 1`);
  const rejected = await run();
  expect(rejected.ok && rejected.r.steps.extract.counts?.rejected).toBe(1);

  // Two customers sharing an email: the critical check over the token fails the run (gate timeout).
  await h.pool.query(
    `UPDATE shop.customers SET email = (SELECT email FROM shop.customers WHERE customer_id = 3), updated_at = now() WHERE customer_id = 2`,
  );
  const failed = await run({ dataset: 'marketing', gateTimeout: '1s' });
  expect(failed.ok).toBe(false);
  expect(!failed.ok && failed.error).toMatch(/customer_email_unique/);
  const failedStatus = await failed.handle.query(statusQuery);
  expect(failedStatus.error).toMatch(/customer_email_unique/);

  // A column added to the PII table: held out of stage and raw until config lists it.
  await h.pool.query('ALTER TABLE shop.customers ADD COLUMN secondary_email text');
  await h.pool.query(
    `UPDATE shop.customers SET secondary_email = 'alt-' || customer_id || '@example.org', updated_at = now() WHERE customer_id <= 10`,
  );
  const held = await run();
  expect(held.ok && held.r.status).toBe('published_partial');

  const { rows: people } = await h.pool.query(
    'SELECT email, phone, full_name, address, secondary_email FROM shop.customers ORDER BY customer_id',
  );
  const plain = [
    ...new Set(people.flatMap((p) => [p.email, p.phone, p.full_name, p.address, p.secondary_email]).filter(Boolean)),
  ] as string[];
  expect(plain.length).toBeGreaterThan(200);
  const leaks = (where: string, text: string) => plain.filter((v) => text.includes(v)).map((v) => `${where}: ${v}`);

  // Stage: every Parquet file, every column.
  const root = (h.deps.stage as LocalObjectStore).root;
  const files = (readdirSync(root, { recursive: true }) as string[]).filter((f) => f.endsWith('.parquet'));
  expect(files.length).toBeGreaterThan(10);
  let stageText = '';
  for (const f of files) stageText += JSON.stringify(await h.sql(`SELECT * FROM read_parquet('${join(root, f)}')`));

  // Warehouse: every table and view of every schema, audit and quarantine included.
  const relations = await h.sql<{ s: string; t: string }>(
    `SELECT table_schema AS s, table_name AS t FROM information_schema.tables WHERE table_schema NOT IN ('information_schema', 'pg_catalog')`,
  );
  expect(relations.map((r) => r.s)).toEqual(expect.arrayContaining(['raw', 'certified', 'bi', 'audit']));
  const [errors] = await h.sql(`SELECT count(*)::INTEGER AS n FROM audit.pipeline_runs WHERE error IS NOT NULL`);
  expect(errors.n).toBeGreaterThan(0);
  // Each load that read customer 1 since (both datasets) quarantined it by key only.
  const rejects = await h.sql(
    `SELECT DISTINCT key_values::VARCHAR AS k, column_name AS c FROM audit.source_rejects WHERE table_name = 'customers'`,
  );
  expect(rejects).toEqual([{ k: '{"customer_id":"1"}', c: 'lifetime_value' }]);
  let warehouseText = '';
  for (const r of relations) warehouseText += JSON.stringify(await h.sql(`SELECT * FROM "${r.s}"."${r.t}"`));

  // The file Tableau reads.
  const tableau = await DuckDBInstance.create(h.deps.biExportPath!, { access_mode: 'READ_ONLY' });
  const conn = await tableau.connect();
  let tableauText = '';
  try {
    const tables = (
      await conn.runAndReadAll(`SELECT table_schema AS s, table_name AS t FROM information_schema.tables`)
    ).getRowObjectsJson();
    expect(tables.length).toBeGreaterThan(0);
    for (const t of tables)
      tableauText += JSON.stringify((await conn.runAndReadAll(`SELECT * FROM "${t.s}"."${t.t}"`)).getRowObjectsJson());
  } finally {
    conn.closeSync();
    tableau.closeSync();
  }

  // Temporal: every run's decoded history (inputs, results, heartbeats, failure messages) and status.
  let temporalText = JSON.stringify(failedStatus);
  for (const id of workflowIds) temporalText += await decodedHistoryText(h.client, id);
  expect(temporalText).toMatch(/customer_email_unique/); // failures are decoded and readable

  expect([
    ...leaks('stage', stageText),
    ...leaks('warehouse', warehouseText),
    ...leaks('tableau', tableauText),
    ...leaks('temporal', temporalText),
  ]).toEqual([]);
});
