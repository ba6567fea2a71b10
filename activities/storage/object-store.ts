/** Where staged Parquet lives: a local directory by default, S3 in production. */
export interface ObjectStore {
  /** Stores a finished local file under `key` (the local store moves it into place). */
  putFile(key: string, localPath: string): Promise<{ key: string; bytes: number }>;
  /** The URI the warehouse reads `key` from (a file path for DuckDB, s3://… for S3). */
  uriFor(key: string): string;
  /** True when `key` exists. */
  exists(key: string): Promise<boolean>;
  /** Objects under `prefix/` with their sizes, sorted by key (to check what is staged against a manifest). */
  list(prefix: string): Promise<StoredObject[]>;
  /** Removes every object under `prefix` (used before re-staging a window, so a retry never leaves strays). */
  deletePrefix(prefix: string): Promise<void>;
}

/** One stored object: its key (relative to the store, as passed to putFile) and size in bytes. */
export interface StoredObject {
  key: string;
  bytes: number;
}

/**
 * Checks an object key or prefix (no trailing slash): no empty or '..' segments, so a key can never
 * escape the store's root or prefix, and '' (the whole store) is never a prefix to delete.
 */
export function assertValidKey(key: string): void {
  if (key.split('/').some((part) => part === '..' || part === '')) throw new Error(`invalid object key '${key}'`);
}
