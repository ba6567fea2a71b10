import type { Manifest } from '../sources/postgres/manifest';
import type { ObjectStore } from '../storage/object-store';
import type { DialectName } from './dialect';
import { quoteLiteral } from './sql';
import type { Warehouse } from './warehouse';

/** A staged column as the warehouse reads it: its name and its type in the warehouse's DDL. */
export interface TypedColumn {
  name: string;
  type: string;
}

/** A manifest's staged rows, readable by the warehouse for the length of one load. */
export interface StagedRelation {
  /** A relation for FROM: the data columns plus `filename`, the row's file (DuckDB: its path or URI; Snowflake: its path in the stage). */
  from: string;
  /** The data columns typed for this warehouse (DuckDB: as the files have them; Snowflake: from the manifest); no `filename`. */
  columns: TypedColumn[];
  /** Releases what `open` created (nothing on DuckDB, the temporary table on Snowflake). */
  close(): Promise<void>;
}

/**
 * Where a warehouse reads a manifest's staged Parquet from: the warehouse's business, not the loader's
 * (DuckDB reads the files in place; Snowflake copies them from its external stage into a temporary table).
 */
export interface StagedRowsReader {
  /** The warehouse dialect this reader produces SQL for. */
  readonly dialect: DialectName;
  /** Makes the manifest's staged rows readable through `wh`; throws when they cannot all be read. */
  open(wh: Warehouse, manifest: Manifest): Promise<StagedRelation>;
}

/** DuckDB reads the staged Parquet files where they are (local paths or s3:// URIs of the stage). */
export function duckdbStagedRows(stage: ObjectStore): StagedRowsReader {
  return {
    dialect: 'duckdb',
    async open(wh, manifest) {
      const files = `[${manifest.keys.map((k) => quoteLiteral(stage.uriFor(k), 'duckdb')).join(', ')}]`;
      const from = `read_parquet(${files}, filename = true)`;
      // The files' own schema (not the manifest's): what DuckDB will actually insert.
      const columns = await wh.query<{ name: string; type: string }>(
        `SELECT column_name AS name, column_type AS type FROM (DESCRIBE SELECT * EXCLUDE (filename) FROM ${from})`,
      );
      return { from, columns, close: async () => undefined };
    },
  };
}
