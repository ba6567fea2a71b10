/**
 * Extraction benchmark: our extract+stage (snapshot COPY → spool → Parquet) against PostgreSQL's own
 * `COPY (SELECT …) TO STDOUT` into a null sink, on the same table in the same run. Prints the ratio
 * (target ≥ 0.7) and this process's peak RSS during our extract.
 *
 *   npx tsx bench/extract.ts --orders 1000000
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Command } from 'commander';
import { Client, Pool } from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { extractTable } from '../activities/sources/postgres/extract';
import { LocalObjectStore } from '../activities/storage/local';
import { DuckDbWarehouse } from '../activities/warehouse/duckdb';
import { loadConfig, getDataset } from '../config/load';
import { createDemoSchema, seedDemoData } from '../infra/demo-oltp/generator';
import { startPostgres } from '../infra/local/postgres';

async function main(): Promise<void> {
  const opts = new Command().option('--orders <n>', 'orders to generate', '1000000').option('--table <name>', 'table to extract', 'orders').parse().opts();
  const orders = Number(opts.orders);
  const dir = resolve('.dev/bench');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const pg = await startPostgres({ baseDir: dir });
  const pool = new Pool({ connectionString: pg.url });
  try {
    await createDemoSchema(pool);
    const seeded = await seedDemoData(pool, { customers: Math.max(1000, Math.floor(orders / 3)), orders, seed: 1 });
    await pool.query('VACUUM ANALYZE');
    const table = getDataset(loadConfig(), 'sales_core').tables.find((t) => t.name === opts.table)!;
    const { rows } = await pool.query(`SELECT count(*)::bigint AS n, min(updated_at) AS lo, max(updated_at) AS hi FROM shop.${table.name}`);
    const window = { start: new Date(rows[0].lo.getTime()).toISOString(), end: new Date(rows[0].hi.getTime() + 1000).toISOString() };
    console.log(`seeded ${seeded.orders} orders in ${seeded.seconds.toFixed(1)} s; shop.${table.name} has ${rows[0].n} rows`);

    // Baseline: the same SELECT through PostgreSQL's COPY into a sink that discards the bytes.
    const cols = (await pool.query(`SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) AS c FROM pg_attribute
      WHERE attrelid = 'shop.${table.name}'::regclass AND attnum > 0 AND NOT attisdropped AND NOT (attname = ANY($1))`, [table.exclude])).rows[0].c;
    const client = new Client({ connectionString: pg.url });
    await client.connect();
    let t = Date.now();
    await pipeline(
      client.query(copyTo(`COPY (SELECT ${cols} FROM shop.${table.name} WHERE updated_at >= '${window.start}' AND updated_at < '${window.end}') TO STDOUT WITH (FORMAT csv)`)),
      new Writable({ write: (_c, _e, done) => done() }),
    );
    const copySeconds = (Date.now() - t) / 1000;
    await client.end();

    const converter = await DuckDbWarehouse.open(':memory:', { threads: 2, memoryLimit: '256MB' });
    let peak = process.memoryUsage().rss;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
    t = Date.now();
    const manifest = await extractTable({
      sourceName: 'shop', source: loadConfig().sources.shop, url: pg.url, table, window, lookbackMs: 0,
      piiKey: 'bench-key', stage: new LocalObjectStore(join(dir, 'stage')), converter, scratchDir: join(dir, 'tmp'),
    });
    const oursSeconds = (Date.now() - t) / 1000;
    clearInterval(sampler);
    await converter.close();

    const n = manifest.rows;
    const copyRate = n / copySeconds;
    const ourRate = n / oursSeconds;
    console.log(`postgres COPY TO STDOUT : ${n} rows in ${copySeconds.toFixed(2)} s = ${Math.round(copyRate)} rows/s`);
    console.log(`freshline extract+stage: ${n} rows in ${oursSeconds.toFixed(2)} s = ${Math.round(ourRate)} rows/s (${(manifest.bytes / 1e6).toFixed(1)} MB Parquet)`);
    console.log(`ratio ours/COPY        : ${(ourRate / copyRate).toFixed(2)} (target >= 0.70)`);
    console.log(`peak RSS during extract: ${(peak / 1e6).toFixed(0)} MB (limit 300 MB)`);
  } finally {
    await pool.end();
    await pg.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
