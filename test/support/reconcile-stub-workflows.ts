// Workflows for the reconciliation test's own worker: the real reconcileRecent and a stand-in for the
// `backfill` workflow type that only returns what it was asked to do (the real one reloads 7 days).
export { reconcileRecent } from '../../workflows/reconcile';

/** Stand-in `backfill`: echoes its input and the workflow id it was started with. */
export async function backfill(input: unknown): Promise<{ stub: true; input: unknown }> {
  return { stub: true, input };
}
