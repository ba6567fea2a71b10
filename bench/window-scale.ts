/**
 * Window cost against history size, on the embedded default (PostgreSQL → Parquet stage → DuckDB), with
 * the shipped sales_core tables and models, run through the same functions the activities call:
 *
 * For each history H (orders; customers H/5, 90 days): seed, initial load (extract → load → transform →
 * publish), then for each size in `--changes` a window of that many source changes (new orders, updates,
 * late corrections, cancellations, refunds) timed per step and per model, then a full rebuild (every
 * model whole). Prints per history and window size the steps and slowest models, and the ratios the
 * issue holds us to:
 *   window(H_max) / window(H_min) at equal change volume   (target ≤ 1.3: flat)
 *   full rebuild(H_max) / full rebuild(H_min) vs H_max / H_min   (target: no worse than linear)
 * plus peak RSS of this process (it is the worker: DuckDB runs in it). A window's wall time here is the
 * time from the changes' commit to certified (extract → publish, run right after the commit; a scheduled
 * window adds up to one cadence of waiting plus Temporal's few hundred ms per step).
 *
 *   npx tsx bench/window-scale.ts [--histories 20k,100k] [--changes 1000,156k]
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { Pool } from 'pg';
import { EnvSecretStore } from '../activities/secrets/secret-store';
import { extractTable } from '../activities/sources/postgres/extract';
import type { Manifest } from '../activities/sources/postgres/manifest';
import { readSourceState } from '../activities/warehouse/audit/source-state';
import { loadManifest } from '../activities/warehouse/load';
import { buildModels, type ModelResult } from '../activities/warehouse/models/build';
import { publishTables } from '../activities/warehouse/publish';
import { getDataset, loadConfig, modelsToBuild } from '../config/load';
import { createDemoSchema, generateChanges, seedDemoData } from '../infra/demo-oltp/generator';
import { createDatabase, startPostgres } from '../infra/local/postgres';
import { openEmbeddedDeps, type EmbeddedDeps } from '../workers/deps';
import { BENCH_DIR, fmtInt, log, parseSizes, printSummary, rssSampler } from './common';

const DIR = join(BENCH_DIR, 'window-scale');
const PII_KEY = 'd'.repeat(64);
const RATIO_TARGET = 1.3;

/** RSS sampled every 25 ms: the peak of one phase. */
const rss = rssSampler();

interface StepTimes {
  extract: number;
  load: number;
  transform: number;
  publish: number;
  rows: number;
  models: ModelResult[];
  rssMb: number;
}
const total = (t: StepTimes) => t.extract + t.load + t.transform + t.publish;
const sec = (ms: number) => (ms / 1000).toFixed(2);

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const started = performance.now();
  const out = await fn();
  return [out, performance.now() - started];
}

/** One window through every step, as pipelineRun would run it (without Temporal and the gate). */
async function runWindow(
  deps: EmbeddedDeps,
  url: string,
  window: { start: string; end: string },
  id: string,
  fullRefresh = false,
): Promise<StepTimes> {
  rss.reset();
  const ds = getDataset(deps.config, 'sales_core');
  const source = deps.config.sources[ds.source];
  const [manifests, extract] = await timed(() =>
    Promise.all(
      ds.tables.map(async (table) =>
        extractTable({
          sourceName: ds.source,
          source,
          url,
          table,
          window,
          lookbackMs: 0,
          piiKey: PII_KEY,
          stage: deps.stage,
          converter: deps.converter,
          scratchDir: join(deps.scratchDir, 'extract'),
          baseline: await readSourceState(deps.warehouse, ds.source, table.schema, table.name),
        }),
      ),
    ),
  );
  const [, load] = await timed(async () => {
    for (const m of manifests as Manifest[])
      await loadManifest(deps.warehouse, deps.stagedRows, m, `bench/${id}/${m.table}`);
  });
  const [models, transform] = await timed(() =>
    buildModels(deps.warehouse, { dataset: ds.name, targets: modelsToBuild(ds), runId: `bench/${id}`, fullRefresh }),
  );
  const [, publish] = await timed(() => publishTables(deps.warehouse, ds.name, ds.publish));
  return {
    extract,
    load,
    transform,
    publish,
    rows: manifests.reduce((n, m) => n + m.rows, 0),
    models,
    rssMb: rss.mb(),
  };
}

interface HistoryResult {
  orders: number;
  seedS: number;
  initial: StepTimes;
  /** One window per change volume, in `--changes` order. */
  windows: { changes: number; times: StepTimes }[];
  rebuild: StepTimes;
}

async function measure(pgAdmin: string, orders: number, volumes: number[]): Promise<HistoryResult> {
  const url = await createDatabase(pgAdmin, `bench_window_${orders}`);
  const pool = new Pool({ connectionString: url, max: 2 });
  const dataDir = join(DIR, `h${orders}`);
  rmSync(dataDir, { recursive: true, force: true });
  mkdirSync(dataDir, { recursive: true });
  try {
    await createDemoSchema(pool);
    const [, seedMs] = await timed(() =>
      seedDemoData(pool, { customers: Math.max(50, Math.round(orders / 5)), orders, days: 90, seed: 5 }),
    );
    log(`history ${fmtInt(orders)} orders seeded in ${sec(seedMs)} s`);
    const deps = await openEmbeddedDeps({
      dataDir,
      config: loadConfig(),
      secrets: new EnvSecretStore({ SHOP_DB_URL: url, FRESHLINE_PII_HMAC_KEY: PII_KEY }),
    });
    try {
      const dbNow = async () => (await pool.query<{ t: Date }>('SELECT now() AS t')).rows[0].t.getTime();
      const seeded = await dbNow();
      const initial = await runWindow(
        deps,
        url,
        { start: new Date(seeded - 86_400_000).toISOString(), end: new Date(seeded + 60_000).toISOString() },
        'initial',
      );
      log(
        `  initial load: ${sec(total(initial))} s (transform ${sec(initial.transform)} s), ${fmtInt(initial.rows)} rows`,
      );
      const windows: HistoryResult['windows'] = [];
      let to = 0;
      for (const [i, changes] of volumes.entries()) {
        const from = await dbNow();
        await generateChanges(pool, {
          newOrders: Math.round(changes * 0.4),
          updates: Math.round(changes * 0.3),
          lateCorrections: Math.round(changes * 0.1),
          cancellations: Math.round(changes * 0.1),
          refunds: Math.round(changes * 0.1),
          seed: 11 + i,
        });
        to = (await dbNow()) + 1_000;
        const times = await runWindow(
          deps,
          url,
          { start: new Date(from - 1_000).toISOString(), end: new Date(to).toISOString() },
          `window-${changes}`,
        );
        log(`  window of ${changes} changes: ${sec(total(times))} s, ${fmtInt(times.rows)} rows extracted`);
        windows.push({ changes, times });
      }
      const rebuild = await runWindow(
        deps,
        url,
        { start: new Date(to).toISOString(), end: new Date(to + 1_000).toISOString() },
        'rebuild',
        true,
      );
      log(`  full rebuild: transform ${sec(rebuild.transform)} s`);
      return { orders, seedS: seedMs / 1000, initial, windows, rebuild };
    } finally {
      await deps.close();
    }
  } finally {
    await pool.end();
  }
}

function slowest(models: ModelResult[], n = 4): string {
  return [...models]
    .sort((a, b) => b.ms - a.ms)
    .slice(0, n)
    .map((m) => `${m.model} ${sec(m.ms)} s${m.how ? ` (${m.how})` : ''}`)
    .join(', ');
}

async function main(): Promise<void> {
  const opts = new Command()
    .option('--histories <list>', 'history sizes in orders', '20k,100k')
    .option('--changes <list>', 'source changes in each measured window', '1000')
    .parse()
    .opts<{ histories: string; changes: string }>();
  const histories = parseSizes(opts.histories);
  const volumes = parseSizes(opts.changes);
  if (volumes.some((c) => c < 10)) throw new Error('--changes must list sizes ≥ 10');
  mkdirSync(DIR, { recursive: true });
  const pg = await startPostgres({ baseDir: DIR, log });
  const results: HistoryResult[] = [];
  try {
    for (const h of histories) results.push(await measure(pg.url, h, volumes));
  } finally {
    await pg.stop();
  }
  const lines: string[] = [];
  for (const r of results) {
    for (const { changes, times: w } of r.windows)
      lines.push(
        `history ${fmtInt(r.orders)} orders, window of ${fmtInt(changes)} changes: ${sec(total(w))} s = extract ${sec(w.extract)} + load ${sec(w.load)} + transform ${sec(w.transform)} + publish ${sec(w.publish)} (${fmtInt(w.rows)} rows); peak RSS ${w.rssMb} MB`,
        `  slowest models: ${slowest(w.models)}`,
      );
    lines.push(
      `history ${fmtInt(r.orders)} orders: initial load ${sec(total(r.initial))} s (transform ${sec(r.initial.transform)} s, peak RSS ${r.initial.rssMb} MB); full rebuild transform ${sec(r.rebuild.transform)} s (slowest: ${slowest(r.rebuild.models, 2)}), peak RSS ${r.rebuild.rssMb} MB`,
    );
  }
  if (results.length >= 2) {
    const [a, b] = [results[0], results[results.length - 1]];
    const hRatio = b.orders / a.orders;
    for (const [i, changes] of volumes.entries()) {
      const [wa, wb] = [a.windows[i].times, b.windows[i].times];
      const windowRatio = total(wb) / total(wa);
      lines.push(
        `ratio window(${fmtInt(b.orders)}) / window(${fmtInt(a.orders)}) at ${fmtInt(changes)} changes: ${windowRatio.toFixed(2)} (transform alone ${(wb.transform / wa.transform).toFixed(2)}, publish ${(wb.publish / wa.publish).toFixed(2)}); target ≤ ${RATIO_TARGET}: ${windowRatio <= RATIO_TARGET ? 'met' : 'NOT met'}`,
      );
    }
    const rebuildRatio = b.rebuild.transform / a.rebuild.transform;
    lines.push(
      `ratio full rebuild: ${rebuildRatio.toFixed(2)} for ${hRatio.toFixed(1)}× history; target ≤ linear (${hRatio.toFixed(1)}): ${rebuildRatio <= hRatio ? 'met' : 'NOT met'}`,
    );
  }
  lines.push(
    'bytes scanned: DuckDB does not report them per query; the Snowflake stand-in is not a cost model (see README)',
  );
  printSummary('window scale', lines);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
