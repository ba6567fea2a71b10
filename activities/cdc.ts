import { join } from 'node:path';
import { getDataset } from '../config/load';
import type { DatasetConfig, PipelineConfig } from '../config/schema';
import { withHeartbeat, type RunWindow } from './context';
import { PII_KEY_SECRET, type ActivityDeps } from './deps';
import { captureChanges, confirmCdc, ensureCdcStream, slotHealth, type CdcStream } from './sources/postgres/cdc';
import { extractTable, schemaHash } from './sources/postgres/extract';
import { readSourceUrl, sourceError } from './sources/postgres/connection';
import type { Manifest } from './sources/postgres/manifest';
import { readSourceState } from './warehouse/audit/source-state';

/** The slot/publication of a dataset's cdc tables. */
function streamOf(config: PipelineConfig, ds: DatasetConfig): CdcStream {
  const source = config.sources[ds.source];
  const names = source.cdc ?? { slot: `freshline_${ds.source}`, publication: `freshline_${ds.source}` };
  return {
    ...names,
    tables: ds.tables
      .filter((t) => t.mode === 'cdc')
      .map((t) => ({ schema: t.schema, name: t.name, primaryKey: t.primaryKey, pii: t.pii, exclude: t.exclude })),
  };
}

/** What captureCdc hands the workflow: one manifest per cdc table, and the LSN to confirm after load. */
export interface CdcResult {
  manifests: Manifest[];
  endLsn: string;
  changes: number;
  /** WAL the slot holds on the source right after the capture (it is released when confirmed). */
  retainedWalBytes: number;
}

/** Creates the CDC activities. */
export function createCdcActivities(deps: ActivityDeps) {
  return {
    /**
     * Captures the dataset's cdc tables from the slot (not advancing it) into the stage. A table never
     * loaded before also gets a full snapshot, taken after the slot exists so no change falls between.
     */
    async captureCdc(input: RunWindow): Promise<CdcResult> {
      return withHeartbeat(deps, 'extract', async (beat) => {
        const ds = getDataset(deps.config, input.dataset);
        const source = deps.config.sources[ds.source];
        const url = await readSourceUrl(deps.secrets, source.urlSecret);
        try {
          const stream = streamOf(deps.config, ds);
          const tables = ds.tables.filter((t) => t.mode === 'cdc');
          const piiKey = tables.some((t) => t.pii.length) ? await deps.secrets.get(PII_KEY_SECRET) : '';
          await ensureCdcStream(url, stream);
          const snapshots: Manifest[] = [];
          for (const table of tables) {
            if (await readSourceState(deps.warehouse, ds.source, table.schema, table.name)) continue;
            snapshots.push(
              await extractTable({
                sourceName: ds.source,
                source,
                url,
                table: { ...table, mode: 'full' },
                window: input.window,
                lookbackMs: 0,
                piiKey,
                stage: deps.stage,
                converter: deps.converter,
                scratchDir: join(deps.scratchDir, 'extract'),
              }),
            );
          }
          const capture = await captureChanges({
            url,
            stream,
            stage: deps.stage,
            converter: deps.converter,
            scratchDir: join(deps.scratchDir, 'cdc'),
            piiKey,
            keyPrefix: `${ds.source}/cdc/${input.window.start.replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}`,
            heartbeat: beat,
          });
          const changes: Manifest[] = capture.tables.map((t) => {
            const table = tables.find((c) => c.name === t.table && c.schema === t.schema)!;
            return {
              mode: 'cdc',
              source: ds.source,
              schema: t.schema,
              table: t.table,
              window: input.window,
              readFrom: input.window.start,
              keys: t.keys,
              rows: t.rows - t.rejected,
              sourceRows: t.rows,
              bytes: 0,
              schemaHash: schemaHash(t.columns),
              columns: t.columns,
              primaryKey: table.primaryKey,
              cursor: table.cursor,
              maxCursor: null,
              extractedAt: capture.extractedAt,
              drift: null,
              blocked: false,
              unchanged: false,
              checksum: null,
              rejects: t.rejects,
              rejectedRows: t.rejected,
            };
          });
          const health = await slotHealth(url, stream.slot);
          return {
            manifests: [...snapshots, ...changes],
            endLsn: capture.endLsn,
            changes: capture.changes,
            retainedWalBytes: health.retainedWalBytes,
          };
        } catch (err) {
          throw sourceError(err, url, { secret: source.urlSecret, source: ds.source });
        }
      });
    },

    /** Advances the slot to lsn: only after the captured changes are loaded (a crash before re-delivers them). */
    async confirmCdc(input: RunWindow & { lsn: string }): Promise<void> {
      const ds = getDataset(deps.config, input.dataset);
      const source = deps.config.sources[ds.source];
      const url = await readSourceUrl(deps.secrets, source.urlSecret);
      try {
        await confirmCdc(url, streamOf(deps.config, ds).slot, input.lsn);
      } catch (err) {
        throw sourceError(err, url, { secret: source.urlSecret, source: ds.source });
      }
    },
  };
}
