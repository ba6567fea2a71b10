import type { Pool } from 'pg';

/**
 * A PostgreSQL table holding one row of every type family Freshline extracts (exact and unconstrained
 * numerics, time zones, json/jsonb, arrays, uuid, an enum, bytea, text with a newline and quotes) and one
 * row of NULLs with an empty string, for tests that follow values from the source to a warehouse.
 */
export async function createTypeMatrix(pool: Pool, table = 'kinds'): Promise<void> {
  await pool.query(`
    CREATE TYPE ${table}_mood AS ENUM ('happy', 'sad');
    CREATE TABLE ${table} (
      id int PRIMARY KEY, money numeric(38,10), big numeric, f8 double precision, flag boolean,
      ts timestamptz, local_ts timestamp, d date, doc jsonb, raw_json json, tags text[], nums int[],
      guid uuid, feeling ${table}_mood, blob bytea, note text, updated_at timestamptz NOT NULL DEFAULT now())`);
  await pool.query(`INSERT INTO ${table} VALUES
    (1, 1234567890123456789012345678.0123456789, 98765432109876543210.123456789012, 0.1, true,
     '2026-03-29 01:30:00.123456+02', '2026-03-29 01:30:00', '2026-02-28', '{"a": [1, 2], "b": "x,y"}', '{"k": null}',
     '{"a b", "c,\\"d\\""}', '{1,2,3}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'sad', '\\x00ff', E'line one\\nline "two", ok', now()),
    (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, '', now())`);
}

/** Row 1's values every reader sees alike as text or JSON scalars (numerics exact, arrays as PostgreSQL writes them). */
export const TYPE_MATRIX_ROW_1 = {
  id: 1,
  money: '1234567890123456789012345678.0123456789',
  big: '98765432109876543210.1234567890',
  f8: 0.1,
  flag: true,
  d: '2026-02-28',
  raw_json: '{"k": null}',
  tags: '{"a b","c,\\"d\\""}',
  nums: '{1,2,3}',
  guid: 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
  feeling: 'sad',
  blob: '\\x00ff',
  note: 'line one\nline "two", ok',
};
