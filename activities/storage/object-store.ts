/** Where staged Parquet lives: a local directory by default, S3 in production. */
export interface ObjectStore {
  /** Stores a finished local file under `key` (the local store moves it into place). */
  putFile(key: string, localPath: string): Promise<{ key: string; bytes: number }>;
  /** The URI the warehouse reads `key` from (a file path for DuckDB, s3://… for S3). */
  uriFor(key: string): string;
  /** True when `key` exists. */
  exists(key: string): Promise<boolean>;
  /** Removes every object under `prefix` (used before re-staging a window, so a retry never leaves strays). */
  deletePrefix(prefix: string): Promise<void>;
}
