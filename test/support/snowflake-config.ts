/**
 * The `warehouse:` section of a config pointing the production adapters at the Snowflake stand-in: the
 * loader user with key-pair auth (secret SF_LOADER_KEY), the external stage over `stageUrl`, BI role bi_reader.
 */
export function standInWarehouse(accessUrl: string, stageUrl: string, over: Record<string, unknown> = {}) {
  return {
    type: 'snowflake',
    account: 'freshline_test',
    user: 'loader',
    role: 'FRESHLINE_LOADER',
    warehouse: 'FRESHLINE_WH',
    database: 'ANALYTICS',
    privateKeySecret: 'SF_LOADER_KEY',
    accessUrl,
    externalStage: { name: 'freshline_stage', url: stageUrl, storageIntegration: 'freshline_s3' },
    biRole: 'bi_reader',
    ...over,
  };
}
