import { Client } from 'pg';
import { EnvSecretStore } from '../../activities/secrets/secret-store';
import { DuckDbWarehouse } from '../../activities/warehouse/engines/duckdb';
import { SnowflakeWarehouse } from '../../activities/warehouse/engines/snowflake';
import { runChecks } from '../../activities/warehouse/quality/checks';
import { Binds, isoFromTimestamp, quoteLiteral } from '../../activities/warehouse/sql';
import { parseConfig } from '../../config/load';
import { testEnv } from '../support/env';
import { parseAlterSession, startSnowflakeStandIn } from '../stand-ins/snowflake';

// quoteLiteral per dialect, checked by the engines' own parsers: DuckDB and PostgreSQL for real, Snowflake by
// the stand-in's literal reader (backslash escapes, as Snowflake reads them). And config values reaching a
// check on Snowflake as binds, never as SQL text.

const NASTY = ["it\\'s", "a\\\\' OR 1=1 --", "'", '\\', "\\\\'", "''", 'line\nbreak', 'tab\\t', 'plain'];

test('Binds numbers placeholders in order; a fork extends a copy', () => {
  const b = new Binds();
  expect([b.add('x'), b.add(2), b.add(null)]).toEqual(['$1', '$2', '$3']);
  const f = b.fork();
  expect(f.add(true)).toBe('$4');
  expect(b.values).toEqual(['x', 2, null]);
  expect(f.values).toEqual(['x', 2, null, true]);
});

test('DuckDB reads its literals back as the same data', async () => {
  const db = await DuckDbWarehouse.open(':memory:');
  try {
    for (const v of NASTY) {
      expect(quoteLiteral(v, 'duckdb')).toBe(`'${v.replace(/'/g, "''")}'`);
      expect(await db.query(`SELECT ${quoteLiteral(v, 'duckdb')} AS v`)).toEqual([{ v }]);
    }
  } finally {
    await db.close();
  }
});

test('PostgreSQL reads its literals back as the same data, whatever standard_conforming_strings says', async () => {
  const pg = new Client({ connectionString: testEnv('pgAdminUrl') });
  await pg.connect();
  try {
    for (const setting of ['on', 'off']) {
      await pg.query(`SET standard_conforming_strings = ${setting}`);
      await pg.query('SET escape_string_warning = off');
      for (const v of NASTY) {
        const { rows } = await pg.query<{ v: string }>(`SELECT ${quoteLiteral(v, 'postgres')} AS v`);
        expect(rows).toEqual([{ v }]);
      }
    }
  } finally {
    await pg.end();
  }
});

test('Snowflake: backslashes are doubled, so the literal reads back as the data (DuckDB quoting would not)', () => {
  const read = (literal: string) => parseAlterSession(`ALTER SESSION SET QUERY_TAG = ${literal}`)?.set.QUERY_TAG;
  for (const v of NASTY) expect(read(quoteLiteral(v, 'snowflake'))).toBe(v);
  expect(quoteLiteral("it\\'s", 'snowflake')).toBe("'it\\\\''s'");
  // The bug this guards against: DuckDB-style quoting of it\'s ends the literal early in Snowflake.
  expect(read(quoteLiteral("it\\'s", 'duckdb'))).not.toBe("it\\'s");
});

test('Snowflake: accepted values and range bounds reach the statement as binds, not SQL text', async () => {
  const stand = await startSnowflakeStandIn({
    account: 'FRESHLINE_TEST',
    users: [{ name: 'ANALYST', password: 'pw' }],
  });
  const wh = await SnowflakeWarehouse.connect(
    {
      account: 'FRESHLINE_TEST',
      username: 'ANALYST',
      authenticator: 'SNOWFLAKE',
      passwordSecret: 'SF_PASSWORD',
      accessUrl: stand.url,
    },
    new EnvSecretStore({ SF_PASSWORD: 'pw' }),
  );
  try {
    stand.on(/count\(\*\)/, () => ({
      columns: [
        { name: 'N', type: 'NUMBER(18,0)' },
        { name: 'TOTAL', type: 'NUMBER(18,0)' },
      ],
      rows: [[0, 3]],
    }));
    const values = ["it\\'s", "a\\\\' OR 1=1 --"];
    const ds = parseConfig({
      sources: { shop: { type: 'postgres', urlSecret: 'X' } },
      datasets: [
        {
          name: 'ds',
          cadence: '15m',
          freshnessSla: '20m',
          source: 'shop',
          publish: ['fct_orders'],
          tables: [{ name: 'orders', schema: 'shop', primaryKey: ['order_id'] }],
          checks: [
            {
              name: 'status_known',
              severity: 'warn',
              type: 'accepted_values',
              model: 'fct_orders',
              column: 'status',
              values,
            },
            {
              name: 'total_sane',
              severity: 'warn',
              type: 'range',
              model: 'fct_orders',
              column: 'order_total',
              min: 0,
              max: 1e6,
            },
          ],
        },
      ],
    }).datasets[0];
    const from = stand.statements.length;
    const results = await runChecks(wh, {
      dataset: ds,
      runId: 'ds/window/x',
      counts: [],
      window: { start: '2026-11-20T10:00:00.000Z', end: '2026-11-20T10:15:00.000Z' },
    });
    expect(results.map((r) => [r.check, r.status, r.detail])).toEqual([
      ['status_known', 'pass', expect.stringContaining('no rows with status not in')],
      ['total_sane', 'pass', expect.stringContaining('no rows with order_total outside')],
    ]);
    const sent = stand.statements.slice(from).filter((s) => /count\(\*\)/.test(s.sqlText));
    expect(sent).toHaveLength(2);
    expect(sent[0].sqlText).toContain('NOT IN (:1, :2)');
    expect(sent[0].binds).toEqual(values);
    expect(sent[1].sqlText).toMatch(/"order_total" < :1 OR "order_total" > :2/);
    expect(sent[1].binds).toEqual([0, 1e6]);
    for (const s of sent) for (const v of values) expect(s.sqlText).not.toContain(v);
  } finally {
    await wh.close();
    await stand.close();
  }
});

test.each([
  ['2026-11-22 06:00:00+00', '2026-11-22T06:00:00.000Z'],
  ['2026-11-22 06:00:00.123+00', '2026-11-22T06:00:00.123Z'],
  ['2026-11-22 10:15:00.000 +0000', '2026-11-22T10:15:00.000Z'],
  ['2026-11-22 11:15:00.000 +0100', '2026-11-22T10:15:00.000Z'],
  ['2026-11-22 04:45:00 -05:30', '2026-11-22T10:15:00.000Z'],
  ['2026-11-22T10:15:00.000Z', '2026-11-22T10:15:00.000Z'],
  ['2026-11-22 10:15:00', '2026-11-22T10:15:00.000Z'],
])('timestamp text from either engine (%s) reads as one instant', (text, iso) => {
  expect(new Date(isoFromTimestamp(text)).toISOString()).toBe(iso);
});

test('text that is no timestamp fails naming it instead of becoming NaN', () => {
  expect(() => isoFromTimestamp('Tue Nov 22 2026')).toThrow("not a timestamp the warehouse renders: 'Tue Nov 22 2026'");
});
