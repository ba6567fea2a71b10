/**
 * Worker-like child process of bench/extract.ts and bench/oltp-impact.ts; not meant to be run by hand.
 * It holds what a worker holds for extraction (workers/deps.ts): an in-memory DuckDB converter with
 * 2 threads and a 256 MB limit, and a local-directory stage; runs `extractTable` for one table of
 * sales_core; and reports, per extract, rows, seconds, bytes, peak RSS (VmHWM from /proc/self/status,
 * cross-checked by a 25 ms VmRSS sampler) and CPU seconds per thread.
 *
 *   node --require tsx/cjs bench/extract-child.ts '{"url":…,"tableName":"orders","window":{…},"dir":…,"loop":false}'
 *
 * With "loop": true it repeats the extract until it is sent SIGTERM.
 */
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { extractTable } from '../activities/sources/postgres/extract';
import { LocalObjectStore } from '../activities/storage/local';
import { DuckDbWarehouse } from '../activities/warehouse/duckdb';
import { getDataset, loadConfig } from '../config/load';
import { CHILD_TAG, threadCpu, type ChildReport, type ChildRequest } from './proc';

function statusKb(field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) : 0;
}

async function main(): Promise<void> {
  const req = JSON.parse(process.argv[2] ?? '') as ChildRequest;
  const config = loadConfig();
  const dataset = getDataset(config, 'sales_core');
  const table = dataset.tables.find((t) => t.name === req.tableName);
  if (!table) throw new Error(`sales_core has no table '${req.tableName}'`);
  const source = config.sources[dataset.source];
  // Same converter as workers/deps.ts gives the extract activity.
  const converter = await DuckDbWarehouse.open(':memory:', { threads: 2, memoryLimit: '256MB' });
  const stage = new LocalObjectStore(join(req.dir, 'stage'));
  const rssBeforeMB = statusKb('VmRSS') / 1024;
  process.stdout.write(`${CHILD_TAG}ready\n`);
  try {
    for (let iteration = 1; ; iteration++) {
      const before = threadCpu('self');
      let sampled = statusKb('VmRSS');
      const sampler = setInterval(() => (sampled = Math.max(sampled, statusKb('VmRSS'))), 25);
      const t = performance.now();
      const manifest = await extractTable({
        sourceName: dataset.source,
        source,
        url: req.url,
        table,
        window: req.window,
        lookbackMs: 0,
        piiKey: 'bench-pii-key',
        stage,
        converter,
        scratchDir: join(req.dir, 'tmp'),
      });
      const seconds = (performance.now() - t) / 1000;
      clearInterval(sampler);
      sampled = Math.max(sampled, statusKb('VmRSS'));
      const after = threadCpu('self');
      let cpuMain = 0;
      const cpuOtherThreads: Record<string, number> = {};
      for (const [key, th] of after) {
        const used = th.cpu - (before.get(key)?.cpu ?? 0);
        if (th.tid === process.pid) cpuMain += used;
        else cpuOtherThreads[th.comm] = (cpuOtherThreads[th.comm] ?? 0) + used;
      }
      const report: ChildReport = {
        iteration,
        rows: manifest.rows,
        sourceRows: manifest.sourceRows,
        bytes: manifest.bytes,
        seconds,
        rssBeforeMB,
        peakRssMB: statusKb('VmHWM') / 1024,
        sampledMaxRssMB: sampled / 1024,
        cpuMain,
        cpuOtherThreads,
      };
      process.stdout.write(`${CHILD_TAG}${JSON.stringify(report)}\n`);
      // The Parquet file is only measured, never loaded: drop it so loops do not fill the disk.
      for (const key of manifest.keys) rmSync(stage.uriFor(key), { force: true });
      if (!req.loop) break;
    }
  } finally {
    await converter.close();
  }
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
