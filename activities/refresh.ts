import { ApplicationFailure, Context } from '@temporalio/activity';
import { getDataset } from '../config/load';
import { runIdentity, withHeartbeat, type RunWindow } from './context';
import type { ActivityDeps } from './deps';
import { TableauApiError, TableauClient } from './tableau/client';
import { SiteLimiter } from './tableau/limiter';
import { isRefreshProgress, refreshTableauItems, TableauRefreshError, type ItemProgress } from './tableau/refresh';
import { recordBiRefresh } from './warehouse/audit/runs';

/** Input of the refresh activity: the run's window and which refresh round this is (1, then 2… after retryRefresh). */
export interface RefreshInput extends RunWindow {
  round?: number;
}

/** One refreshed BI object, as the step reports it (ids and counts only). */
export interface RefreshedItem {
  kind: 'datasource' | 'workbook';
  name: string;
  id: string;
  jobId: string | null;
  joined: boolean;
  /** Jobs started or joined (1 unless a failed or cancelled job was re-run). */
  jobs: number;
  ms: number;
}

/** Result of the BI refresh step. */
export interface RefreshResult {
  status: 'skipped' | 'refreshed';
  reason: string;
  items?: RefreshedItem[];
}

/** Creates the BI refresh activity. */
export function createRefreshActivities(deps: ActivityDeps) {
  // Refresh slots per Tableau site, shared by every dataset this worker refreshes.
  const limiter = new SiteLimiter();
  return {
    /**
     * Refreshes the dataset's Tableau extracts (bi.tableau) and polls each job to its end, heartbeating
     * its progress: a retried attempt polls the jobs already running instead of starting new ones. With
     * no target configured, records why it skipped. Each object's outcome goes to audit.bi_refreshes.
     */
    async refresh(input: RefreshInput): Promise<RefreshResult> {
      return withHeartbeat(deps, 'refresh', async (beat) => {
        const tableau = getDataset(deps.config, input.dataset).bi.tableau;
        if (!tableau || tableau.datasources.length + tableau.workbooks.length === 0) {
          return {
            status: 'skipped',
            reason: `no Tableau target configured for dataset '${input.dataset}' (config bi.tableau)`,
          };
        }
        const ctx = Context.current();
        const run = runIdentity(input);
        const round = input.round ?? 1;
        const { secrets } = deps;
        const client = new TableauClient({
          server: tableau.server,
          site: tableau.site,
          apiVersion: tableau.apiVersion,
          credentials: async () => ({
            patName: await secrets.get(tableau.patNameSecret),
            patSecret: await secrets.get(tableau.patSecretSecret),
          }),
          credentialsRejected: async () => {
            await secrets.refresh?.(tableau.patNameSecret);
            await secrets.refresh?.(tableau.patSecretSecret);
          },
          credentialsLabel: `secrets ${tableau.patNameSecret}, ${tableau.patSecretSecret}`,
          sleep: (ms) => ctx.sleep(ms),
          signal: ctx.cancellationSignal,
        });
        const site = `${tableau.server}#${tableau.site}`;
        try {
          const items = await refreshTableauItems(
            tableau,
            isRefreshProgress(ctx.info.heartbeatDetails) ? ctx.info.heartbeatDetails : null,
            {
              client,
              sleep: (ms) => ctx.sleep(ms),
              now: () => Date.now(),
              progress: beat,
              slot: (fn) => limiter.run(site, tableau.maxConcurrentRefreshes, fn),
              finished: (item, outcome) =>
                recordBiRefresh(deps.warehouse, run, {
                  round,
                  target: 'tableau',
                  objectType: item.kind,
                  objectRef: item.ref,
                  objectId: item.id ?? null,
                  objectName: item.name ?? null,
                  jobId: outcome.jobId,
                  joined: item.joined ?? false,
                  status: outcome.status,
                  finishCode: outcome.finishCode,
                  jobs: item.jobs,
                  reruns: item.reruns,
                  durationMs: outcome.ms,
                  notes: [...item.notes, ...(outcome.message ? [outcome.message] : [])].join('\n'),
                  finishedAt: outcome.finishedAt,
                }),
            },
          );
          const joined = items.filter((i) => i.joined).length;
          return {
            status: 'refreshed',
            reason: `${items.length} Tableau item(s) refreshed on ${client.target}${joined ? ` (${joined} joined an already running refresh)` : ''}`,
            items: items.map(summary),
          };
        } catch (err) {
          if (err instanceof TableauRefreshError) {
            throw err.final
              ? ApplicationFailure.nonRetryable(err.message, 'TableauRefreshFailed')
              : ApplicationFailure.retryable(err.message, 'TableauRefreshError');
          }
          if (err instanceof TableauApiError) {
            throw ApplicationFailure.create({
              message: client.redact(err.message),
              type: 'TableauApiError',
              nonRetryable: !err.retryable,
            });
          }
          throw err;
        } finally {
          await client.signOut();
        }
      });
    },
  };
}

function summary(item: ItemProgress): RefreshedItem {
  return {
    kind: item.kind,
    name: item.name ?? item.ref,
    id: item.id ?? '',
    jobId: item.outcome?.jobId ?? null,
    joined: item.joined ?? false,
    jobs: item.jobs,
    ms: item.outcome?.ms ?? 0,
  };
}
