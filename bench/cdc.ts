/**
 * CDC benchmark: N row changes on shop.orders (inserts, updates, deletes in large SQL batches), then
 * captures through the logical slot until drained, confirming after each capture. Verifies zero loss
 * and zero duplicates (distinct (order_id, _lsn) in the staged Parquet = rows staged = changes made,
 * per operation) and prints capture throughput, lag and this process's peak RSS.
 *
 *   npx tsx bench/cdc.ts --changes 1000000
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Command } from 'commander';
import { Pool } from 'pg';
import {
  captureChanges,
  confirmCdc,
  ensureCdcStream,
  slotHealth,
  type CdcStream,
} from '../activities/sources/postgres/cdc';
import { LocalObjectStore } from '../activities/storage/local';
import { openParquetConverter } from '../activities/sources/postgres/parquet-encoder';
import { createDemoSchema, seedDemoData } from '../infra/demo-oltp/generator';
import { startPostgres } from '../infra/local/postgres';

const BATCH = 50_000; // rows per generating statement (one transaction each)

async function main(): Promise<void> {
  const opts = new Command().option('--changes <n>', 'row changes to generate', '1000000').parse().opts();
  const total = Number(opts.changes);
  if (!Number.isInteger(total) || total < 100) throw new Error('--changes must be an integer >= 100');
  const dir = resolve('.dev/bench-cdc');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const pg = await startPostgres({ baseDir: dir });
  const pool = new Pool({ connectionString: pg.url });
  const converter = await openParquetConverter();
  const stream: CdcStream = {
    slot: 'bench_cdc',
    publication: 'bench_cdc',
    tables: [{ schema: 'shop', name: 'orders', primaryKey: ['order_id'], pii: [], exclude: [] }],
  };
  try {
    await createDemoSchema(pool);
    await seedDemoData(pool, { customers: 1000, orders: 1000, seed: 1 });
    await ensureCdcStream(pg.url, stream); // after the seed: only the generated stream is captured

    // --- generate the change stream -----------------------------------------------------------
    const wantInserts = Math.round(total * 0.3);
    const wantDeletes = Math.round(total * 0.05);
    const wantUpdates = total - wantInserts - wantDeletes;
    const made = { I: 0, U: 0, D: 0 };
    let t = Date.now();
    const ref = (
      await pool.query('SELECT min(customer_id) AS c, (SELECT min(store_id) FROM shop.stores) AS s FROM shop.customers')
    ).rows[0];
    for (let from = 1; from <= wantInserts; from += BATCH) {
      const to = Math.min(wantInserts, from + BATCH - 1);
      const res = await pool.query(
        `INSERT INTO shop.orders (order_number, customer_id, store_id, channel, status, ordered_at, order_date, subtotal, tax, total)
         SELECT 'BENCH-' || g, $3, $4, 'online', 'placed', now(), current_date, 10.00, 0.80, 10.80 FROM generate_series($1::int, $2::int) g`,
        [from, to, ref.c, ref.s],
      );
      made.I += res.rowCount ?? 0;
    }
    const ids = (
      await pool.query(
        "SELECT min(order_id)::bigint AS lo, max(order_id)::bigint AS hi, count(*)::bigint AS n FROM shop.orders WHERE order_number LIKE 'BENCH-%'",
      )
    ).rows[0];
    const lo = Number(ids.lo);
    const hi = Number(ids.hi);
    if (hi - lo + 1 !== Number(ids.n)) throw new Error('generated order ids are not contiguous');
    // Updates cycle over the generated rows (each row-change counts once); deletes take the newest rows.
    const updatable = hi - wantDeletes - lo + 1;
    let cursor = 0;
    while (made.U < wantUpdates) {
      const size = Math.min(BATCH, wantUpdates - made.U, updatable - cursor);
      const res = await pool.query(
        'UPDATE shop.orders SET tax = tax + 0.01, total = total + 0.01 WHERE order_id BETWEEN $1 AND $2',
        [lo + cursor, lo + cursor + size - 1],
      );
      made.U += res.rowCount ?? 0;
      cursor = (cursor + size) % updatable;
    }
    for (let from = hi - wantDeletes + 1; from <= hi; from += BATCH) {
      const res = await pool.query('DELETE FROM shop.orders WHERE order_id BETWEEN $1 AND $2', [
        from,
        Math.min(hi, from + BATCH - 1),
      ]);
      made.D += res.rowCount ?? 0;
    }
    const changesMade = made.I + made.U + made.D;
    const streamEnd = Date.now();
    const generateSeconds = (streamEnd - t) / 1000;
    const backlog = await slotHealth(pg.url, stream.slot);
    console.log(
      `generated ${changesMade} changes (I ${made.I}, U ${made.U}, D ${made.D}) in ${generateSeconds.toFixed(1)} s; ` +
        `slot holds ${(backlog.retainedWalBytes / 1e6).toFixed(1)} MB of WAL (lag ${(backlog.lagBytes / 1e6).toFixed(1)} MB)`,
    );

    // --- capture until drained --------------------------------------------------------------
    const stage = new LocalObjectStore(join(dir, 'stage'));
    let peak = process.memoryUsage().rss;
    let maxRetained = backlog.retainedWalBytes;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
    const keys: string[] = [];
    let captured = 0;
    let captures = 0;
    t = Date.now();
    let drainedAt = t;
    for (;;) {
      const cap = await captureChanges({
        url: pg.url,
        stream,
        stage,
        converter,
        scratchDir: join(dir, 'scratch'),
        piiKey: 'bench-key',
        keyPrefix: `shop/cdc/${String(captures).padStart(4, '0')}`,
        heartbeat: (p) => {
          if (p.changes % 200_000 === 0) process.stderr.write(`  … ${p.changes} changes, lsn ${p.lsn}\n`);
        },
      });
      captures++;
      if (cap.changes === 0) break;
      keys.push(...cap.tables.flatMap((x) => x.keys));
      captured += cap.changes;
      maxRetained = Math.max(maxRetained, (await slotHealth(pg.url, stream.slot)).retainedWalBytes);
      await confirmCdc(pg.url, stream.slot, cap.endLsn);
      drainedAt = Date.now();
    }
    clearInterval(sampler);
    const captureSeconds = (drainedAt - t) / 1000;
    const after = await slotHealth(pg.url, stream.slot);

    // --- verify ---------------------------------------------------------------------------------
    const files = `[${keys.map((k) => `'${stage.uriFor(k)}'`).join(', ')}]`;
    const [v] = await converter.query<{ n: string; d: string; i: string; u: string; del: string; nokey: string }>(
      `SELECT count(*)::VARCHAR AS n, count(DISTINCT (order_id, _lsn))::VARCHAR AS d,
              count(*) FILTER (WHERE _op = 'I')::VARCHAR AS i, count(*) FILTER (WHERE _op = 'U')::VARCHAR AS u,
              count(*) FILTER (WHERE _op = 'D' AND _deleted)::VARCHAR AS del, count(*) FILTER (WHERE order_id IS NULL)::VARCHAR AS nokey
         FROM read_parquet(${files})`,
    );
    const rows = Number(v.n);
    const distinct = Number(v.d);
    const lost = changesMade - distinct;
    const duplicates = rows - distinct;
    const perOpOk =
      Number(v.i) === made.I && Number(v.u) === made.U && Number(v.del) === made.D && Number(v.nokey) === 0;

    console.log(
      `captured ${captured} changes in ${captures} captures (${keys.length} Parquet files), ${captureSeconds.toFixed(2)} s = ${Math.round(captured / captureSeconds)} changes/s`,
    );
    console.log(
      `verify: rows ${rows}, distinct (order_id, _lsn) ${distinct}, made ${changesMade} -> lost ${lost}, duplicates ${duplicates}; per op I ${v.i} U ${v.u} D ${v.del} (${perOpOk ? 'match' : 'MISMATCH'})`,
    );
    console.log(
      `lag: retained WAL ${(maxRetained / 1e6).toFixed(1)} MB at peak, ${(after.retainedWalBytes / 1e6).toFixed(1)} MB after drain ` +
        `(unconfirmed ${after.lagBytes} bytes); ${((drainedAt - streamEnd) / 1000).toFixed(2)} s from end of stream to capture finished`,
    );
    console.log(`peak RSS during capture: ${(peak / 1e6).toFixed(0)} MB`);
    const pass = lost === 0 && duplicates === 0 && perOpOk && captured === changesMade;
    console.log(
      `verdict: ${pass ? 'PASS' : 'FAIL'} — ${changesMade} changes, ${lost} lost, ${duplicates} duplicated, ` +
        `${Math.round(captured / captureSeconds)} changes/s, peak RSS ${(peak / 1e6).toFixed(0)} MB`,
    );
    if (!pass) process.exitCode = 1;
  } finally {
    await converter.close();
    await pool.end();
    await pg.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
