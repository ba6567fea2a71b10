import { z } from 'zod';
import { duration, isLoopbackHost } from './common';

/** A Tableau content item: its name on the site, or its LUID when the name is ambiguous or may change. */
const tableauItem = z.union(
  [
    z.string().min(1, 'must be a name (or { luid })'),
    z
      .object({
        /** The item's LUID (Tableau's id, e.g. 9f1c…-…), as shown by the REST API. */
        luid: z.string().regex(/^[A-Za-z0-9-]{1,64}$/, 'must be a Tableau LUID (letters, digits and -)'),
      })
      .strict(),
  ],
  { error: 'must be a name or { luid: <id> }' },
);

/** Where and what to refresh on Tableau Cloud or Server. Credentials are secret names, never values. */
export const TableauTargetSchema = z
  .object({
    /** Server URL, e.g. https://prod-uk-a.online.tableau.com or https://tableau.example.com (http only for localhost). */
    server: z.url('must be a URL such as https://tableau.example.com').refine((u) => {
      try {
        const url = new URL(u);
        return url.protocol === 'https:' || (url.protocol === 'http:' && isLoopbackHost(url.hostname));
      } catch {
        return false;
      }
    }, 'must be an https URL (plain http only for localhost)'),
    /** Site content URL (the part after /site/ in the browser); '' is Tableau Server's default site. */
    site: z
      .string()
      .regex(/^[A-Za-z0-9_-]*$/, "must be a site content URL (letters, digits, - and _; '' for the default site)")
      .default(''),
    /** REST API version in the URL path, e.g. 3.25 (Tableau Server 2025.1 / Cloud). */
    apiVersion: z
      .string({
        error: "must be a quoted REST API version such as '3.25' (unquoted, YAML reads 3.10 as the number 3.1)",
      })
      .regex(/^\d+\.\d+$/, "must be a REST API version such as '3.25'")
      .default('3.25'),
    /** Name of the secret holding the personal access token's name. */
    patNameSecret: z
      .string({ error: 'required: the name of the secret holding the personal access token name' })
      .min(1, 'must name a secret'),
    /** Name of the secret holding the personal access token's secret value. */
    patSecretSecret: z
      .string({ error: 'required: the name of the secret holding the personal access token secret' })
      .min(1, 'must name a secret'),
    /** Published data sources whose extracts are refreshed: names or { luid }. */
    datasources: z.array(tableauItem).default([]),
    /** Workbooks whose embedded extracts are refreshed: names or { luid }. */
    workbooks: z.array(tableauItem).default([]),
    /** Refresh jobs running at once on the site (per worker process), so a dataset does not flood the backgrounders. */
    maxConcurrentRefreshes: z.number().int().positive().default(2),
    /** How often each refresh job is polled. */
    pollInterval: duration.default('15s'),
    /** A job not finished this long after it started (or was joined) fails its item. */
    jobTimeout: duration.default('2h'),
    /** A job that finishes failed or cancelled is started again up to this many times. */
    retries: z.number().int().min(0).max(10).default(2),
  })
  .superRefine((t, ctx) => {
    for (const kind of ['datasources', 'workbooks'] as const) {
      const seen = new Set<string>();
      t[kind].forEach((item, i) => {
        const key = typeof item === 'string' ? `name ${item}` : `luid ${item.luid}`;
        if (seen.has(key)) ctx.addIssue({ code: 'custom', path: [kind, i], message: `duplicate ${key}` });
        seen.add(key);
      });
    }
  });

export type TableauTargetConfig = z.infer<typeof TableauTargetSchema>;
export type TableauItemConfig = z.infer<typeof tableauItem>;
