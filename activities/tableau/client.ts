/**
 * A small client for the Tableau REST API (Tableau Cloud and Tableau Server), JSON flavour:
 *
 *   POST /api/<ver>/auth/signin                                   personal access token → token, site id, user id
 *   POST /api/<ver>/auth/signout
 *   GET  /api/<ver>/sites/<site>/datasources|workbooks?filter=name:eq:<name>&pageSize&pageNumber
 *   GET  /api/<ver>/sites/<site>/datasources|workbooks/<luid>
 *   POST /api/<ver>/sites/<site>/datasources|workbooks/<luid>/refresh  (body {}) → { job }
 *   GET  /api/<ver>/sites/<site>/jobs/<job id>                   finishCode 0 success / 1 failed / 2 cancelled
 *   GET  /api/<ver>/sites/<site>/jobs?filter=jobType:eq:…,status:eq:…   to find a refresh already running
 *
 * Every request but sign-in carries `X-Tableau-Auth`. What the client does on its own:
 * - 401 on a request: signs in again (once per request; concurrent requests share one new sign-in);
 * - 429: waits as the answer says (Retry-After header, or "retry after N minutes" in the error detail);
 * - 5xx and network errors: retries with exponential backoff, then throws a retryable error.
 * Errors name the operation, the HTTP status and Tableau's error code, never the token or the PAT secret.
 * Redirects are never followed (a 3xx is a final error naming the server and where it pointed, origin only):
 * following one would re-send the PAT sign-in body or X-Tableau-Auth to the origin the answer chose. The server
 * must be https (plain http only on loopback), and only the first 4 KiB of an error answer are read.
 */
import { insecureUrlReason, isRedirect, readBodyPrefix, redirectTarget } from '../http';

/** The two kinds of content with extracts Freshline refreshes. */
export type TableauItemKind = 'datasource' | 'workbook';

/** The PAT as read from the secret store (held in memory only while signing in). */
export interface TableauCredentials {
  patName: string;
  patSecret: string;
}

export interface TableauClientOptions {
  /** Server URL, e.g. https://prod-uk-a.online.tableau.com (no trailing path needed). */
  server: string;
  /** Site content URL ('' = default site). */
  site: string;
  /** REST API version path segment, e.g. 3.25. */
  apiVersion: string;
  /** Reads the personal access token; called at each sign-in so a rotated secret is picked up. */
  credentials(): Promise<TableauCredentials>;
  /** Where the credentials come from, for messages (e.g. "secrets TABLEAU_PAT_NAME, TABLEAU_PAT_SECRET"). */
  credentialsLabel?: string;
  /** Called when sign-in is refused, before the one retry: forget cached secrets (SecretStore.refresh). */
  credentialsRejected?(): Promise<void>;
  /** Waits (the activity passes a cancellable, heartbeated sleep). */
  sleep?(ms: number): Promise<void>;
  /** Aborts in-flight requests (activity cancellation). */
  signal?: AbortSignal;
  /** Per-request timeout (default 30 s). */
  requestTimeoutMs?: number;
  /** Retries of a request answered 5xx or not answered (default 4: waits 1, 2, 4, 8 s × backoffMs/1000). */
  serverErrorRetries?: number;
  /** First backoff wait (default 1000 ms), doubled each retry. */
  backoffMs?: number;
  /** 429 answers waited out per request before giving up (default 10). */
  maxRateLimitWaits?: number;
  /** Longest single rate-limit wait honoured (default 1 h); longer requests wait this long and try again. */
  maxRateLimitWaitMs?: number;
  /** Used for every request (default: global fetch). */
  fetch?: typeof fetch;
}

/** Something worth a note in the audit (a rate-limit wait, a re-sign-in, a 5xx retried). */
export type NoteFn = (note: string) => void;

/** An error answer of the REST API, or no answer. */
export class TableauApiError extends Error {
  override name = 'TableauApiError';
  constructor(
    message: string,
    /** HTTP status; 0 when no answer arrived. */
    readonly status: number,
    /** Tableau's error code, e.g. 409093, when the body had one. */
    readonly code: string | undefined,
    /** Whether trying again later may help (5xx, network, rate limit, expired session). */
    readonly retryable: boolean,
  ) {
    super(message);
  }
}

/** A content item as listed by the REST API. */
export interface TableauItem {
  kind: TableauItemKind;
  id: string;
  name: string;
  project?: string;
}

/** A job as Query Job returns it, reduced to what Freshline uses. */
export interface TableauJob {
  id: string;
  /** True once the job has completed (completedAt present). */
  finished: boolean;
  /** 0 success, 1 failed, 2 cancelled (undefined while running). */
  finishCode?: number;
  progress?: number;
  createdAt?: string;
  startedAt?: string;
  completedAt?: string;
  /** The item the job refreshes, when the answer says. */
  item?: { kind: TableauItemKind; id: string; name?: string };
  /** Tableau's notes on the job (extractRefreshJob.notes, statusNotes), for the audit. */
  notes: string[];
}

type Json = Record<string, unknown>;

/** A REST client bound to one site; sign in lazily on the first call, sign out when done. */
export class TableauClient {
  private readonly base: string;
  private readonly fetchFn: typeof fetch;
  private token: string | null = null;
  private siteId: string | null = null;
  /** Bumped at each sign-in, so a 401 on an old token does not trigger a second sign-in. */
  private generation = 0;
  private signingIn: Promise<void> | null = null;
  /** Values that must never appear in an error message. */
  private readonly secrets = new Set<string>();
  /** Sign-ins done by this client (for notes and tests). */
  signIns = 0;

  constructor(private readonly opts: TableauClientOptions) {
    this.base = `${opts.server.replace(/\/+$/, '')}/api/${opts.apiVersion}`;
    this.fetchFn = opts.fetch ?? fetch;
  }

  /** Describes the target for messages: server and site, no credentials. */
  get target(): string {
    return `${this.opts.server.replace(/\/+$/, '')} site '${this.opts.site}'`;
  }

  /** Signs in with the personal access token (again, if signed in already). */
  async signIn(): Promise<void> {
    if (this.signingIn) return this.signingIn; // concurrent callers share one sign-in
    this.signingIn = (async () => {
      try {
        try {
          await this.signInOnce();
        } catch (err) {
          if (!(err instanceof TableauApiError) || err.status !== 401 || !this.opts.credentialsRejected) throw err;
          // The PAT may have been rotated: read it afresh once.
          await this.opts.credentialsRejected();
          await this.signInOnce();
        }
      } finally {
        this.signingIn = null;
      }
    })();
    return this.signingIn;
  }

  private async signInOnce(): Promise<void> {
    const { patName, patSecret } = await this.opts.credentials();
    this.secrets.add(patSecret);
    const body = {
      credentials: {
        personalAccessTokenName: patName,
        personalAccessTokenSecret: patSecret,
        site: { contentUrl: this.opts.site },
      },
    };
    const res = await this.send('sign in', 'POST', '/auth/signin', body, undefined);
    if (res.status === 401) {
      const err = await readError(res);
      throw new TableauApiError(
        this.redact(
          `Tableau sign-in to ${this.target} refused the personal access token${this.opts.credentialsLabel ? ` (${this.opts.credentialsLabel})` : ''}: ${describe(err, 401)}`,
        ) +
          ' — check the PAT name and secret in the configured secrets, that the PAT is not expired or revoked, and the site content URL',
        401,
        err.code,
        false,
      );
    }
    if (!res.ok) throw await this.errorFrom('sign in', 'POST', '/auth/signin', res);
    const json = (await res.json()) as Json;
    const creds = obj(json.credentials);
    const token = str(creds.token);
    const siteId = str(obj(creds.site).id);
    if (!token || !siteId)
      throw new TableauApiError(
        `Tableau sign-in to ${this.target} answered without a token or site id`,
        res.status,
        undefined,
        true,
      );
    this.secrets.add(token);
    this.token = token;
    this.siteId = siteId;
    this.generation++;
    this.signIns++;
  }

  /** Ends the session (best effort: a failed sign-out only means the token expires on its own). */
  async signOut(): Promise<void> {
    if (!this.token) return;
    const token = this.token;
    this.token = null;
    try {
      if (insecureUrlReason(this.base)) return;
      const res = await this.fetchFn(`${this.base}/auth/signout`, {
        method: 'POST',
        headers: { 'X-Tableau-Auth': token, Accept: 'application/json' },
        redirect: 'manual',
        signal: AbortSignal.timeout(this.opts.requestTimeoutMs ?? 30_000),
      });
      await res.body?.cancel();
    } catch {
      // nothing to do: the session times out
    }
  }

  /** Items of `kind` named exactly `name` (all pages). */
  async findByName(kind: TableauItemKind, name: string, note?: NoteFn): Promise<TableauItem[]> {
    const found: TableauItem[] = [];
    for (let page = 1; page <= 100; page++) {
      const json = await this.call(
        `find ${kind} '${name}'`,
        'GET',
        `/sites/{site}/${kind}s?filter=${encodeURIComponent(`name:eq:${name}`)}&pageSize=100&pageNumber=${page}`,
        undefined,
        note,
      );
      const list = arr(obj(json[`${kind}s`])[kind]).map(obj);
      for (const it of list) {
        const id = str(it.id);
        if (id) found.push({ kind, id, name: str(it.name) ?? name, project: str(obj(it.project).name) });
      }
      if (lastPage(json, page, list.length)) break;
    }
    // The filter is Tableau's; keep exact-case matches when it returned others too.
    const exact = found.filter((f) => f.name === name);
    return exact.length ? exact : found;
  }

  /** One item by LUID, or null when the site has none with that id. */
  async getItem(kind: TableauItemKind, id: string, note?: NoteFn): Promise<TableauItem | null> {
    try {
      const json = await this.call(
        `get ${kind} ${id}`,
        'GET',
        `/sites/{site}/${kind}s/${encodeURIComponent(id)}`,
        undefined,
        note,
      );
      const it = obj(json[kind]);
      return { kind, id: str(it.id) ?? id, name: str(it.name) ?? id, project: str(obj(it.project).name) };
    } catch (err) {
      if (err instanceof TableauApiError && err.status === 404) return null;
      throw err;
    }
  }

  /** Starts an extract refresh ("Update Data Source Now" / "Update Workbook Now"); returns the job. */
  async startRefresh(kind: TableauItemKind, id: string, note?: NoteFn): Promise<TableauJob> {
    const json = await this.call(
      `refresh ${kind} ${id}`,
      'POST',
      `/sites/{site}/${kind}s/${encodeURIComponent(id)}/refresh`,
      {},
      note,
    );
    const job = parseJob(obj(json.job));
    if (!job)
      throw new TableauApiError(`Tableau refresh of ${kind} ${id} answered without a job id`, 200, undefined, true);
    return job;
  }

  /** Query Job. */
  async getJob(jobId: string, note?: NoteFn): Promise<TableauJob> {
    const json = await this.call(
      `query job ${jobId}`,
      'GET',
      `/sites/{site}/jobs/${encodeURIComponent(jobId)}`,
      undefined,
      note,
    );
    const job = parseJob(obj(json.job));
    if (!job) throw new TableauApiError(`Tableau job ${jobId} answered without a job`, 200, undefined, true);
    return job;
  }

  /**
   * The queued or running extract refresh of an item, if any: lists pending and in-progress refresh jobs
   * (Query Jobs) and asks each which item it refreshes (Query Job), newest first.
   */
  async findActiveRefreshJob(kind: TableauItemKind, id: string, note?: NoteFn): Promise<TableauJob | null> {
    const candidates: { id: string; createdAt: string }[] = [];
    for (const status of ['InProgress', 'Pending']) {
      for (let page = 1; page <= 10; page++) {
        const filter = encodeURIComponent(`jobType:in:[refresh_extracts,increment_extracts],status:eq:${status}`);
        const json = await this.call(
          'find running refresh jobs',
          'GET',
          `/sites/{site}/jobs?filter=${filter}&pageSize=100&pageNumber=${page}`,
          undefined,
          note,
        );
        const list = arr(obj(json.backgroundJobs).backgroundJob).map(obj);
        for (const j of list) {
          const jid = str(j.id);
          if (jid) candidates.push({ id: jid, createdAt: str(j.createdAt) ?? '' });
        }
        if (lastPage(json, page, list.length)) break;
      }
    }
    candidates.sort((a, b) => b.createdAt.localeCompare(a.createdAt));
    for (const c of candidates) {
      const job = await this.getJob(c.id, note);
      if (!job.finished && job.item?.kind === kind && job.item.id === id) return job;
    }
    return null;
  }

  /** A JSON request with auth, 401 re-sign-in, 429 waits and 5xx backoff. `{site}` in the path is the site id. */
  private async call(operation: string, method: string, path: string, body: unknown, note?: NoteFn): Promise<Json> {
    let rateLimitWaits = 0;
    let serverRetries = 0;
    let reauthenticated = false;
    const maxServerRetries = this.opts.serverErrorRetries ?? 4;
    for (;;) {
      if (!this.token) await this.signIn();
      const generation = this.generation;
      const fullPath = path.replace('{site}', encodeURIComponent(this.siteId ?? ''));
      let res: Response;
      try {
        res = await this.send(operation, method, fullPath, body, this.token ?? undefined);
      } catch (err) {
        if (!(err instanceof TableauApiError) || !err.retryable || serverRetries >= maxServerRetries) throw err;
        await this.backoff(++serverRetries, `${operation}: ${err.message}`, note);
        continue;
      }
      if (res.ok) {
        if (res.status === 204) return {};
        const text = await res.text();
        try {
          return (text ? JSON.parse(text) : {}) as Json;
        } catch {
          throw new TableauApiError(
            `Tableau ${operation} answered HTTP ${res.status} with a body that is not JSON (is the server URL right?)`,
            res.status,
            undefined,
            false,
          );
        }
      }
      if (res.status === 401 && !reauthenticated) {
        // Session expired or ended (a PAT has one session at a time): sign in again, once per request.
        reauthenticated = true;
        await res.body?.cancel();
        if (generation === this.generation) {
          this.token = null;
          await this.signIn();
        }
        note?.(`session expired (HTTP 401) during ${operation}: signed in again`);
        continue;
      }
      if (res.status === 429 && rateLimitWaits < (this.opts.maxRateLimitWaits ?? 10)) {
        const err = await readError(res);
        const waitMs = Math.min(
          retryAfterMs(res.headers.get('retry-after'), err.detail) ?? 60_000,
          this.opts.maxRateLimitWaitMs ?? 3_600_000,
        );
        rateLimitWaits++;
        note?.(
          `rate limited (HTTP 429${err.code ? ` ${err.code}` : ''}) on ${operation}: waited ${formatMs(waitMs)} as told`,
        );
        await this.wait(waitMs);
        continue;
      }
      if (res.status >= 500 && serverRetries < maxServerRetries) {
        const err = await readError(res);
        await this.backoff(
          ++serverRetries,
          `${operation}: HTTP ${res.status}${err.code ? ` (${err.code})` : ''}`,
          note,
        );
        continue;
      }
      throw await this.errorFrom(operation, method, fullPath, res);
    }
  }

  private async backoff(retry: number, what: string, note?: NoteFn): Promise<void> {
    const ms = (this.opts.backoffMs ?? 1000) * 2 ** (retry - 1);
    note?.(`${this.redact(what)}; retry ${retry} in ${formatMs(ms)}`);
    await this.wait(ms);
  }

  private wait(ms: number): Promise<void> {
    return this.opts.sleep ? this.opts.sleep(ms) : new Promise((resolve) => setTimeout(resolve, ms));
  }

  /** One HTTP exchange; a network failure or timeout becomes a retryable TableauApiError. */
  private async send(
    operation: string,
    method: string,
    path: string,
    body: unknown,
    token: string | undefined,
  ): Promise<Response> {
    const insecure = insecureUrlReason(this.base);
    if (insecure)
      throw new TableauApiError(
        `Tableau ${operation} not sent: server ${this.opts.server} ${insecure} (it would carry the credentials)`,
        0,
        undefined,
        false,
      );
    const timeout = AbortSignal.timeout(this.opts.requestTimeoutMs ?? 30_000);
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (token) headers['X-Tableau-Auth'] = token;
    let res: Response;
    try {
      res = await this.fetchFn(`${this.base}${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        // Never followed: fetch would re-send the sign-in body and X-Tableau-Auth wherever a 307 points.
        redirect: 'manual',
        signal: this.opts.signal ? AbortSignal.any([this.opts.signal, timeout]) : timeout,
      });
    } catch (err) {
      if (this.opts.signal?.aborted) throw err; // cancelled: let the activity see the cancellation
      const e = err as Error & { cause?: Error };
      const why =
        e.name === 'TimeoutError'
          ? `no answer in ${this.opts.requestTimeoutMs ?? 30_000} ms`
          : `${e.message}${e.cause ? ` (${e.cause.message})` : ''}`;
      throw new TableauApiError(
        this.redact(`Tableau ${operation} (${method} ${this.opts.server}) failed: ${why}`),
        0,
        undefined,
        true,
      );
    }
    if (isRedirect(res)) {
      const to = redirectTarget(res, this.base);
      await res.body?.cancel();
      throw new TableauApiError(
        this.redact(
          `Tableau ${operation} (${method} ${this.opts.server}) answered HTTP ${res.status}, a redirect to ${to}: ` +
            'not followed, since it would re-send the credentials — set bi.tableau.server to the URL the REST API answers on',
        ),
        res.status,
        undefined,
        false,
      );
    }
    return res;
  }

  private async errorFrom(operation: string, method: string, path: string, res: Response): Promise<TableauApiError> {
    const err = await readError(res);
    const retryable = res.status >= 500 || res.status === 429 || res.status === 401 || res.status === 408;
    return new TableauApiError(
      this.redact(`Tableau ${operation} (${method} ${path.split('?')[0]}) answered ${describe(err, res.status)}`),
      res.status,
      err.code,
      retryable,
    );
  }

  /** Removes any credential from text bound for an error message or a note. */
  redact(text: string): string {
    let out = text;
    for (const s of this.secrets) if (s) out = out.split(s).join('<redacted>');
    return out;
  }
}

/** Waits Tableau asks for: Retry-After (seconds or HTTP date), else "retry after N seconds|minutes|hours" in the detail. */
export function retryAfterMs(header: string | null, detail: string | undefined, now = Date.now()): number | undefined {
  if (header) {
    const seconds = Number(header);
    if (Number.isFinite(seconds) && seconds >= 0) return Math.round(seconds * 1000);
    const at = Date.parse(header);
    if (!Number.isNaN(at)) return Math.max(0, at - now);
  }
  const m = /retry\s+(?:again\s+)?(?:after|in)\s+(\d+(?:\.\d+)?)\s*(second|sec|minute|min|hour)s?/i.exec(detail ?? '');
  if (m) {
    const unit = /^h/i.test(m[2]) ? 3_600_000 : /^m/i.test(m[2]) ? 60_000 : 1000;
    return Math.round(Number(m[1]) * unit);
  }
  return undefined;
}

interface ErrorBody {
  code?: string;
  summary?: string;
  detail?: string;
}

/** Reads Tableau's `{ error: { code, summary, detail } }` (or whatever text came back), from the first 4 KiB. */
async function readError(res: Response): Promise<ErrorBody> {
  const text = await readBodyPrefix(res);
  try {
    const e = obj(obj(JSON.parse(text) as unknown).error);
    return { code: str(e.code), summary: str(e.summary), detail: str(e.detail) };
  } catch {
    return { detail: text.slice(0, 200) || undefined };
  }
}

function describe(err: ErrorBody, status: number): string {
  const head = `HTTP ${status}${err.code ? ` (${err.code}${err.summary ? ` ${err.summary}` : ''})` : ''}`;
  return err.detail ? `${head}: ${err.detail.slice(0, 300)}` : head;
}

function parseJob(j: Json): TableauJob | null {
  const id = str(j.id);
  if (!id) return null;
  const finishCode = num(j.finishCode);
  const completedAt = str(j.completedAt) ?? str(j.endedAt);
  const refresh = obj(j.extractRefreshJob);
  const ds = obj(refresh.datasource);
  const wb = obj(refresh.workbook);
  const item = str(ds.id)
    ? { kind: 'datasource' as const, id: str(ds.id) as string, name: str(ds.name) }
    : str(wb.id)
      ? { kind: 'workbook' as const, id: str(wb.id) as string, name: str(wb.name) }
      : undefined;
  const notes = [
    str(refresh.notes),
    ...arr(obj(j.statusNotes).statusNote).map((n) => str(obj(n).text) ?? str(obj(n).value)),
  ].filter((n): n is string => !!n);
  return {
    id,
    // completedAt is what says a job is over (finishCode is only meaningful then).
    finished: completedAt !== undefined,
    finishCode,
    progress: num(j.progress),
    createdAt: str(j.createdAt),
    startedAt: str(j.startedAt),
    completedAt,
    item,
    notes,
  };
}

/** Whether `page` was the last one, by the answer's pagination (the server may cap pageSize below what we asked). */
function lastPage(json: Json, page: number, received: number): boolean {
  const p = obj(json.pagination);
  const total = num(p.totalAvailable);
  const size = num(p.pageSize) ?? received;
  return received === 0 || total === undefined || page * size >= total;
}

function obj(v: unknown): Json {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : {};
}
function arr(v: unknown): unknown[] {
  if (Array.isArray(v)) return v;
  return v === undefined || v === null ? [] : [v]; // one element can come back unwrapped
}
function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : typeof v === 'number' ? String(v) : undefined;
}
function num(v: unknown): number | undefined {
  const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
  return Number.isFinite(n) ? n : undefined;
}

/** 3000 → "3s", 90000 → "1m30s". */
export function formatMs(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  return s % 60 ? `${m}m${s % 60}s` : `${m}m`;
}
