import { getDataset } from '../config/load';
import { runIdentity, type RunWindow } from './context';
import type { ActivityDeps } from './deps';
import { sendWebhookAlert, type Alert } from './alerts/webhook';

/** Why a run alerts (pipelineRun's gate). */
export type RunAlertKind = 'gate_blocked' | 'gate_timeout';

/** Why the freshness monitor alerts: once when a dataset's certified data falls behind its SLA, once when it catches up. */
export type FreshnessAlertKind = 'freshness_breach' | 'freshness_recovered';

/** Why Freshline alerts. */
export type AlertKind = RunAlertKind | FreshnessAlertKind;

/** What the freshness monitor knows when it alerts (see activities/freshness.ts). */
export interface FreshnessAlertFacts {
  dataset: string;
  kind: FreshnessAlertKind;
  /** Newest window end of a published run (null: never published). */
  watermark: string | null;
  minutesBehind: number | null;
  slaMinutes: number;
  /** When the data became older than the SLA. */
  breachedSince: string;
  /** Windows of the last reconciliation.days with no published run, and where. */
  missed: { count: number; gaps: { start: string; end: string; windows: number }[]; truncated: boolean };
}

/** The chat message for a freshness breach or recovery. */
export function freshnessAlertMessage(f: FreshnessAlertFacts): Alert {
  const holes =
    f.missed.count === 0
      ? 'none'
      : `${f.missed.count} window(s): ${f.missed.gaps.map((g) => `${g.start} → ${g.end} (${g.windows})`).join('; ')}${f.missed.truncated ? '; …' : ''}`;
  const through = f.watermark ?? 'never published';
  if (f.kind === 'freshness_breach') {
    return {
      title: `${f.dataset}: certified data is ${f.minutesBehind === null ? 'missing' : `${f.minutesBehind} min old`}, over its ${f.slaMinutes} min freshness SLA`,
      level: 'critical',
      fields: {
        Dataset: f.dataset,
        'Certified through': through,
        'Stale since': f.breachedSince,
        'Windows without a published run': holes,
        'To act': `check the dataset's schedule (freshline/${f.dataset}: paused? failing runs?) and its latest runs; missed windows are reloaded by the nightly reconciliation, or now with \`freshline schedules catch-up ${f.dataset} --from <start>\`. One alert per breach: the next comes on recovery.`,
      },
    };
  }
  return {
    title: `${f.dataset}: certified data is fresh again (${f.minutesBehind} min old, SLA ${f.slaMinutes} min)`,
    level: 'info',
    fields: {
      Dataset: f.dataset,
      'Certified through': through,
      'Was stale since': f.breachedSince,
      'Windows without a published run': holes,
    },
  };
}

/**
 * Sends an alert to the dataset's webhook (alerts.webhookSecret). Without one configured it says so in
 * its result instead; the audit has the rest. Throws when the webhook fails: the calling activity retries.
 */
export async function deliverDatasetAlert(
  deps: ActivityDeps,
  dataset: string,
  alert: Alert,
): Promise<{ sent: boolean; note: string }> {
  const secret = getDataset(deps.config, dataset).alerts.webhookSecret;
  if (!secret)
    return { sent: false, note: 'no alerts.webhookSecret configured: recorded in the run status and audit only' };
  await sendWebhookAlert(await deps.secrets.get(secret), secret, alert);
  return { sent: true, note: `sent to the webhook in ${secret}` };
}

/** Creates the alert activity. */
export function createAlertActivities(deps: ActivityDeps) {
  return {
    /**
     * Announces a blocked gate or a gate timeout on the dataset's webhook (Slack-compatible). Without a
     * webhook configured it says so in its result, which the run's status shows; the audit has the rest.
     */
    async alert(
      input: RunWindow & { kind: RunAlertKind; checks: string[]; detail: string },
    ): Promise<{ sent: boolean; note: string }> {
      const ds = getDataset(deps.config, input.dataset);
      const run = runIdentity(input);
      const alert: Alert = {
        title:
          input.kind === 'gate_blocked'
            ? `${ds.name}: quality gate blocked publish (${input.checks.join(', ')})`
            : `${ds.name}: blocked run timed out, certified tables left unchanged (${input.checks.join(', ')})`,
        level: 'critical',
        fields: {
          Dataset: ds.name,
          Window: `${input.window.start} → ${input.window.end}`,
          Run: run.workflowId,
          'Failing checks': input.detail.slice(0, 1500),
          'To act':
            input.kind === 'gate_blocked'
              ? `fix the data, then signal retryGate {by, reason, from: gate|transform|extract} — or skipGate {by, reason} to publish anyway (audited)`
              : "fix the data and re-run the window (same workflow id); yesterday's certified tables are still in place",
        },
        ...(process.env.FRESHLINE_UI_URL
          ? {
              link: `${process.env.FRESHLINE_UI_URL}/namespaces/default/workflows/${encodeURIComponent(run.workflowId)}`,
            }
          : {}),
      };
      return deliverDatasetAlert(deps, ds.name, alert);
    },
  };
}
