import { getDataset } from '../config/load';
import { runIdentity, type RunWindow } from './context';
import type { ActivityDeps } from './deps';
import { sendWebhookAlert, type Alert } from './alerts/webhook';

/** Why the workflow alerts. */
export type AlertKind = 'gate_blocked' | 'gate_timeout';

/** Creates the alert activity. */
export function createAlertActivities(deps: ActivityDeps) {
  return {
    /**
     * Announces a blocked gate or a gate timeout on the dataset's webhook (Slack-compatible). Without a
     * webhook configured it says so in its result, which the run's status shows; the audit has the rest.
     */
    async alert(input: RunWindow & { kind: AlertKind; checks: string[]; detail: string }): Promise<{ sent: boolean; note: string }> {
      const ds = getDataset(deps.config, input.dataset);
      const run = runIdentity(input);
      const alert: Alert = {
        title: input.kind === 'gate_blocked'
          ? `${ds.name}: quality gate blocked publish (${input.checks.join(', ')})`
          : `${ds.name}: blocked run timed out, certified tables left unchanged (${input.checks.join(', ')})`,
        level: 'critical',
        fields: {
          Dataset: ds.name,
          Window: `${input.window.start} → ${input.window.end}`,
          Run: run.workflowId,
          'Failing checks': input.detail.slice(0, 1500),
          'To act': input.kind === 'gate_blocked'
            ? `fix the data, then signal retryGate {by, reason, from: gate|transform|extract} — or skipGate {by, reason} to publish anyway (audited)`
            : 'fix the data and re-run the window (same workflow id); yesterday\'s certified tables are still in place',
        },
        ...(process.env.FRESHLINE_UI_URL ? { link: `${process.env.FRESHLINE_UI_URL}/namespaces/default/workflows/${encodeURIComponent(run.workflowId)}` } : {}),
      };
      const secret = ds.alerts.webhookSecret;
      if (!secret) return { sent: false, note: 'no alerts.webhookSecret configured: recorded in the run status and audit only' };
      await sendWebhookAlert(await deps.secrets.get(secret), secret, alert);
      return { sent: true, note: `sent to the webhook in ${secret}` };
    },
  };
}
