import { certifiedWatermark } from '../../activities/warehouse/audit/freshness';
import { ensureAuditTables } from '../../activities/warehouse/audit/runs';
import { DuckDbWarehouse } from '../../activities/warehouse/engines/duckdb';

test('a published run whose window ends in the future certifies only up to when it finished', async () => {
  const wh = await DuckDbWarehouse.open(':memory:');
  try {
    await ensureAuditTables(wh);
    const insert = (runId: string, start: string, end: string, finished: string) =>
      wh.run(
        `INSERT INTO audit.pipeline_runs VALUES ($1, $1, 'retail', $2::TIMESTAMPTZ, $3::TIMESTAMPTZ, 'succeeded', '{}', NULL, NULL, $4::TIMESTAMPTZ, $4::TIMESTAMPTZ)`,
        [runId, start, end, finished],
      );
    await insert('r1', '2026-11-22T09:45:00Z', '2026-11-22T10:00:00Z', '2026-11-22T10:03:00Z');
    expect(await certifiedWatermark(wh, 'retail')).toBe('2026-11-22T10:00:00.000Z');
    // Ten years ahead, finished at 10:20: fresh through 10:20, not through 2036.
    await insert('r2', '2026-11-22T10:00:00Z', '2036-11-22T10:00:00Z', '2026-11-22T10:20:00Z');
    expect(await certifiedWatermark(wh, 'retail')).toBe('2026-11-22T10:20:00.000Z');
  } finally {
    await wh.close();
  }
});
