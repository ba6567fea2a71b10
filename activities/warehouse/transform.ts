import { shadowSchema } from './layout';
import { buildOrder, readModels, renderModel, MODELS_DIR } from './models';
import { qualified } from './sql';
import type { Warehouse } from './warehouse';

/** Result of one model build. */
export interface ModelResult {
  model: string;
  layer: string;
  rows: number;
  ms: number;
}

/**
 * Builds the dataset's models in dependency order into its shadow schema. Marts get `_run_id` (the
 * window's workflow id) so every certified row traces back to the run that produced it.
 */
export async function buildModels(
  wh: Warehouse,
  opts: { dataset: string; targets: string[]; runId: string; modelsDir?: string; onModel?: (r: ModelResult) => void },
): Promise<ModelResult[]> {
  const shadow = shadowSchema(opts.dataset);
  await wh.ensureSchema(shadow);
  const results: ModelResult[] = [];
  for (const model of buildOrder(readModels(opts.modelsDir ?? MODELS_DIR), opts.targets)) {
    const started = Date.now();
    const body = renderModel(model, shadow).replace(/;\s*$/, '');
    const select = model.layer === 'marts' ? `SELECT *, $1::VARCHAR AS _run_id FROM (${body})` : body;
    const target = qualified(shadow, model.name);
    try {
      await wh.run(`CREATE OR REPLACE TABLE ${target} AS ${select}`, model.layer === 'marts' ? [opts.runId] : undefined);
    } catch (err) {
      throw new Error(`model ${model.layer}/${model.name} failed: ${(err as Error).message}`);
    }
    const [{ n }] = await wh.query<{ n: number }>(`SELECT count(*)::BIGINT AS n FROM ${target}`);
    const result = { model: model.name, layer: model.layer, rows: Number(n), ms: Date.now() - started };
    results.push(result);
    opts.onModel?.(result);
  }
  return results;
}
