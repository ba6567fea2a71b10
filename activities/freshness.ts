import { parseDuration } from '../config/duration';
import { getDataset } from '../config/load';
import { deliverDatasetAlert, freshnessAlertMessage, type FreshnessAlertFacts } from './alert';
import type { ActivityDeps } from './deps';
import {
  certifiedWatermark,
  closeBreach,
  ensureFreshnessAlertsTable,
  markBreachAlerted,
  minutesBehind,
  missedWindows,
  openBreach,
  recordBreach,
  summariseMissed,
  type MissedSummary,
} from './warehouse/audit/freshness';

/** One dataset as the freshness monitor saw it. */
export interface DatasetFreshness {
  dataset: string;
  /** Newest window end of a published run (null: never published). */
  watermark: string | null;
  minutesBehind: number | null;
  slaMinutes: number;
  fresh: boolean;
  /** When the open breach started (null when fresh). */
  breachedSince: string | null;
  /** Whether the open breach has been announced. */
  alerted: boolean;
  /** Cadence windows of the last reconciliation.days (ended more than freshnessSla ago) without a published run. */
  missed: MissedSummary;
}

/** What checkFreshness returns: every dataset, and the alerts the monitor must send now. */
export interface FreshnessCheck {
  checkedAt: string;
  datasets: DatasetFreshness[];
  /** Breaches not yet announced and recoveries of announced breaches: one alert each. */
  due: FreshnessAlertFacts[];
}

/** Creates the freshness monitor's activities. */
export function createFreshnessActivities(deps: ActivityDeps) {
  const wh = deps.warehouse;
  return {
    /**
     * Compares each dataset's certified watermark with its freshnessSla, opens a breach in
     * audit.freshness_alerts when data falls behind (keeping an open one as it is) and lists the alerts
     * that are due: a breach not yet announced, or the recovery of an announced one. A breach that
     * recovers before its alert went out is closed silently. Small result: figures and at most a few gaps.
     */
    async checkFreshness(): Promise<FreshnessCheck> {
      await ensureFreshnessAlertsTable(wh);
      // A dataset removed from config has nothing left to alert about.
      const names = deps.config.datasets.map((d) => d.name);
      await wh.run(
        `DELETE FROM audit.freshness_alerts WHERE dataset NOT IN (${names.map((_, i) => `$${i + 1}`).join(', ')})`,
        names,
      );
      const now = new Date();
      const datasets: DatasetFreshness[] = [];
      const due: FreshnessAlertFacts[] = [];
      for (const ds of deps.config.datasets) {
        const slaMs = parseDuration(ds.freshnessSla);
        const watermark = await certifiedWatermark(wh, ds.name);
        const behind = minutesBehind(watermark, now);
        const fresh = watermark !== null && now.getTime() - Date.parse(watermark) <= slaMs;
        // A window is missed when it ended more than the SLA ago and still has no published run.
        const range = {
          from: new Date(now.getTime() - deps.config.reconciliation.days * 86_400_000).toISOString(),
          to: new Date(now.getTime() - slaMs).toISOString(),
        };
        const missed = summariseMissed(await missedWindows(wh, ds, range.from, range.to), range);
        const open = await openBreach(wh, ds.name);
        const slaMinutes = slaMs / 60_000;
        const facts = (kind: FreshnessAlertFacts['kind'], breachedSince: string): FreshnessAlertFacts => ({
          dataset: ds.name,
          kind,
          watermark,
          minutesBehind: behind,
          slaMinutes,
          breachedSince,
          missed,
        });
        if (!fresh) {
          // Stale since the watermark plus the SLA; never published: since this check noticed.
          const since =
            open?.breachedSince ??
            (watermark ? new Date(Date.parse(watermark) + slaMs).toISOString() : now.toISOString());
          await recordBreach(wh, {
            dataset: ds.name,
            breachedSince: since,
            lastAlertedAt: open?.lastAlertedAt ?? null,
            watermark,
            minutesBehind: behind,
            missedWindows: missed.count,
          });
          if (!open?.lastAlertedAt) due.push(facts('freshness_breach', since));
          datasets.push({
            dataset: ds.name,
            watermark,
            minutesBehind: behind,
            slaMinutes,
            fresh,
            breachedSince: since,
            alerted: !!open?.lastAlertedAt,
            missed,
          });
        } else {
          if (open?.lastAlertedAt) due.push(facts('freshness_recovered', open.breachedSince));
          else if (open) await closeBreach(wh, ds.name, open.breachedSince);
          datasets.push({
            dataset: ds.name,
            watermark,
            minutesBehind: behind,
            slaMinutes,
            fresh,
            breachedSince: null,
            alerted: false,
            missed,
          });
        }
      }
      return { checkedAt: now.toISOString(), datasets, due };
    },

    /**
     * Sends one freshness alert on the dataset's webhook (the same path as the gate's alerts), then
     * records it: a breach as announced, a recovery by closing the breach. A failed send records
     * nothing, so the next monitor run tries again; a retry after a send whose record failed may repeat
     * the message once (at least once, never a flood).
     */
    async freshnessAlert(facts: FreshnessAlertFacts): Promise<{ sent: boolean; note: string }> {
      getDataset(deps.config, facts.dataset);
      const result = await deliverDatasetAlert(deps, facts.dataset, freshnessAlertMessage(facts));
      if (facts.kind === 'freshness_breach') await markBreachAlerted(wh, facts.dataset, facts.breachedSince);
      else await closeBreach(wh, facts.dataset, facts.breachedSince);
      return result;
    },
  };
}
