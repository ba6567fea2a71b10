import { join } from 'node:path';
import { parseDuration } from '../config/duration';
import { getDataset } from '../config/load';
import { withHeartbeat, type RunWindow } from './context';
import { PII_KEY_SECRET, type ActivityDeps } from './deps';
import { Context } from '@temporalio/activity';
import { extractTable, type ExtractHooks, type ExtractProgress } from './sources/postgres/extract';
import { readSourceUrl } from './sources/postgres/connection';
import type { Manifest } from './sources/postgres/manifest';
import { readSourceState } from './warehouse/audit/source-state';

/** Creates the extract activity. */
export function createExtractActivities(deps: ActivityDeps) {
  return {
    /** Extracts one source table's window (or whole table, in full mode) into Parquet in the stage; returns its manifest. */
    async extract(input: RunWindow & { table: string; acceptDrift?: boolean; reload?: boolean }): Promise<Manifest> {
      return withHeartbeat(deps, 'extract', async (beat) => {
        const ds = getDataset(deps.config, input.dataset);
        const table = ds.tables.find((t) => t.name === input.table);
        if (!table) throw new Error(`table '${input.table}' is not part of dataset '${ds.name}'`);
        const source = deps.config.sources[ds.source];
        const { attempt, heartbeatDetails } = Context.current().info;
        const hooks: ExtractHooks = {
          resume: isProgress(heartbeatDetails) ? heartbeatDetails : null,
          onProgress: beat,
          beforeChunk: (index) => deps.beforeStep?.(`extract:${table.name}:chunk:${index}`, attempt),
        };
        return extractTable(
          {
            sourceName: ds.source,
            source,
            url: await readSourceUrl(deps.secrets, source.urlSecret),
            table,
            window: input.window,
            lookbackMs: parseDuration(ds.lookback),
            piiKey: table.pii.length ? await deps.secrets.get(PII_KEY_SECRET) : '',
            stage: deps.stage,
            converter: deps.converter,
            scratchDir: join(deps.scratchDir, 'extract'),
            baseline: await readSourceState(deps.warehouse, ds.source, table.schema, table.name),
            acceptDrift: input.acceptDrift ?? false,
            reload: input.reload ?? false,
            parent: table.partitionOf ? ds.tables.find((t) => t.name === table.partitionOf!.table) : undefined,
            warehouse: deps.warehouse,
          },
          hooks,
        );
      });
    },
  };
}

function isProgress(value: unknown): value is ExtractProgress {
  return typeof value === 'object' && value !== null && Array.isArray((value as ExtractProgress).chunks);
}
