import { SCHEMAS, rawTable } from './layout';
import { LATEST_FIRST } from './models/catalog';
import { qualified, quoteIdent } from './sql';
import type { Warehouse } from './warehouse';
import type { Window } from '../sources/postgres/manifest';

/** Where a reloaded table's partition comes from: its own business date, or its parent's (through `on`). */
export type PartitionBy =
  { businessDate: string } | { parent: { table: string; key: string; businessDate: string }; on: string };

/**
 * The keys whose latest version in raw is live and lies in the business-date partition `window`, as text
 * (one array per key, in primary-key order). A child (order line, payment) lies in its parent's partition;
 * the parent's last live version counts, so the lines of an order deleted in the same reload are found.
 * Only the table's keys with some version in the partition are ranked; a child's parents are ranked whole,
 * so a child's cost grows with raw's orders until raw is bounded (compaction, a later slice).
 * Empty when raw does not hold the table (or its parent) yet.
 */
export async function livePartitionKeys(
  wh: Warehouse,
  opts: { source: string; table: string; primaryKey: string[]; partition: PartitionBy; window: Window },
): Promise<string[][]> {
  const raw = qualified(SCHEMAS.raw, rawTable(opts.source, opts.table));
  if (!(await wh.tableExists(SCHEMAS.raw, rawTable(opts.source, opts.table)))) return [];
  const pk = opts.primaryKey.map(quoteIdent);
  const inPartition = (column: string) =>
    `${quoteIdent(column)} >= $1::TIMESTAMPTZ AND ${quoteIdent(column)} < $2::TIMESTAMPTZ`;
  let rowsInPartition: string;
  let liveColumns: string;
  if ('businessDate' in opts.partition) {
    rowsInPartition = inPartition(opts.partition.businessDate);
    liveColumns = quoteIdent(opts.partition.businessDate);
  } else {
    const { parent, on } = opts.partition;
    if (!(await wh.tableExists(SCHEMAS.raw, rawTable(opts.source, parent.table)))) return [];
    const pkey = quoteIdent(parent.key);
    const parents = `SELECT ${pkey} FROM (
        SELECT ${pkey}, ${quoteIdent(parent.businessDate)} FROM ${qualified(SCHEMAS.raw, rawTable(opts.source, parent.table))}
         WHERE NOT _deleted
        QUALIFY row_number() OVER (PARTITION BY ${pkey} ORDER BY ${LATEST_FIRST}) = 1) AS p
      WHERE ${inPartition(parent.businessDate)}`;
    rowsInPartition = `${quoteIdent(on)} IN (${parents})`;
    liveColumns = quoteIdent(on);
  }
  const keyTuple = pk.length === 1 ? pk[0] : `(${pk.join(', ')})`;
  const text = pk.map((k, i) => `CAST(${k} AS VARCHAR) AS k${i}`).join(', ');
  const sql = `SELECT ${text} FROM (
      SELECT ${pk.join(', ')}, ${liveColumns}, _deleted FROM ${raw}
       WHERE ${keyTuple} IN (SELECT ${pk.join(', ')} FROM ${raw} WHERE ${rowsInPartition})
      QUALIFY row_number() OVER (PARTITION BY ${pk.join(', ')} ORDER BY ${LATEST_FIRST}) = 1) AS v
    WHERE NOT _deleted AND ${rowsInPartition}`;
  const rows = await wh.query<Record<string, string>>(sql, [opts.window.start, opts.window.end]);
  return rows.map((r) => pk.map((_k, i) => String(r[`k${i}`])));
}
