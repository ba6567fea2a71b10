import { SCHEMAS, rawTable } from './layout';
import { LATEST_FIRST, type Model } from './models/catalog';
import { dialectOf } from './dialect';
import { qualified, quoteIdent } from './sql';
import type { Warehouse } from './warehouse';

/** What one raw table's compaction removed. */
export interface CompactedTable {
  table: string;
  /** Superseded versions deleted. */
  removed: number;
}

/**
 * Raw tables whose history no model reads: every model reads them through `latest()` only (a table some
 * model reads with `source()`, such as customers for the SCD2 dimension, keeps every version), with the
 * key each deduplicates on.
 */
export function compactableRawTables(models: Map<string, Model>): { source: string; table: string; key: string }[] {
  const allVersions = new Set<string>();
  const latest = new Map<string, { source: string; table: string; key: string }>();
  const name = (t: { source: string; table: string }) => `${t.source}.${t.table}`;
  for (const m of models.values()) {
    for (const l of m.latest) latest.set(name(l), l);
    // `sources` lists every read, latest() ones included: a name listed more often than latest() reads it is
    // also read with source(), every version.
    for (const s of m.sources)
      if (m.sources.filter((x) => name(x) === name(s)).length > m.latest.filter((l) => name(l) === name(s)).length)
        allVersions.add(name(s));
  }
  return [...latest.entries()].filter(([name]) => !allVersions.has(name)).map(([, l]) => l);
}

/**
 * Bounded raw: deletes, from every raw table no model reads the history of, the versions extracted before
 * `olderThan` that are neither a key's latest version (with its duplicates, which latest() counts) nor its
 * newest live version (reload delete detection places a deleted order's lines through it). latest() reads
 * the same rows before and after, so staging and marts do not change; recent versions, which reloads and
 * re-runs replace by (key, cursor), are never touched. One transaction per table.
 */
export async function compactRaw(
  wh: Warehouse,
  models: Map<string, Model>,
  olderThan: Date,
): Promise<CompactedTable[]> {
  const dialect = dialectOf(wh.dialect);
  const out: CompactedTable[] = [];
  for (const { source, table, key } of compactableRawTables(models)) {
    const name = rawTable(source, table);
    if (!(await wh.tableExists(SCHEMAS.raw, name))) continue;
    const raw = qualified(SCHEMAS.raw, name);
    const k = quoteIdent(key);
    const superseded = qualified(SCHEMAS.raw, `${name}__superseded`);
    const lsn = (t: string) => `coalesce(${t}_lsn, '')`;
    const by = (partition: string) => `over (partition by ${partition} order by ${LATEST_FIRST})`;
    try {
      await wh.run(
        `CREATE OR REPLACE ${dialect.scratchTable} ${superseded} AS
           SELECT DISTINCT ${k}, _extracted_at, ${lsn('')} AS lsn FROM (
             SELECT ${k}, _extracted_at, _lsn, coalesce(_deleted, false) AS deleted,
                    first_value(_extracted_at) ${by(k)} AS top_at,
                    first_value(${lsn('')}) ${by(k)} AS top_lsn,
                    first_value(_extracted_at) ${by(`${k}, coalesce(_deleted, false)`)} AS state_at,
                    first_value(${lsn('')}) ${by(`${k}, coalesce(_deleted, false)`)} AS state_lsn
               FROM ${raw}) AS v
          WHERE _extracted_at < $1::TIMESTAMPTZ
            AND NOT (_extracted_at = top_at AND ${lsn('')} = top_lsn)
            AND NOT (NOT deleted AND _extracted_at = state_at AND ${lsn('')} = state_lsn)`,
        [olderThan.toISOString()],
      );
      const removed = await wh.transaction((tx) =>
        tx.run(
          `DELETE FROM ${raw} AS r WHERE EXISTS (SELECT 1 FROM ${superseded} AS s
            WHERE s.${k} = r.${k} AND s._extracted_at = r._extracted_at AND s.lsn = ${lsn('r.')})`,
        ),
      );
      out.push({ table: `${SCHEMAS.raw}.${name}`, removed: Number(removed) });
    } finally {
      await wh.run(`DROP TABLE IF EXISTS ${superseded}`).catch(() => undefined);
    }
  }
  return out;
}
