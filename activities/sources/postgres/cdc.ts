/**
 * Log-based change capture (CDC) for a PostgreSQL source: a pgoutput logical replication slot read
 * through `pg-logical-replication`, staged as Parquet (one file per table per capture).
 *
 * Delivery is at-least-once by construction: a capture never moves the slot; only confirmCdc does,
 * after the caller has staged and loaded what the capture returned. A crash anywhere before that
 * re-delivers the same changes, which downstream deduplicates by (primary key, _lsn).
 *
 * Boundary rule (why captures never lose or duplicate a transaction): logical decoding skips exactly
 * the transactions whose commit record starts before the slot's confirmed position. A capture with
 * endLsn = E contains exactly the transactions whose commit starts before E, so confirming E hands the
 * next capture exactly the rest.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { Client } from 'pg';
import { LogicalReplicationService, PgoutputPlugin, type Pgoutput } from 'pg-logical-replication';
import type { ObjectStore } from '../../storage/object-store';
import { qualified, quoteIdent, quoteLiteral } from '../../warehouse/sql';
import type { Warehouse } from '../../warehouse/warehouse';
import { sourceError } from './connection';
import { CDC_FILE_COLUMNS, type SourceReject, type StagedColumn } from './manifest';
import {
  encodeCsvToParquet,
  maskedSelect,
  MAX_LISTED_REJECTS,
  withheldKey,
  type EncodeResult,
  type PiiMask,
} from './parquet-encoder';
import { registerPiiKey } from './pii';
import { warehouseType } from './types';

/** Identifies a CDC stream: one logical replication slot + one publication covering some tables. */
export interface CdcStream {
  slot: string;
  publication: string;
  tables: { schema: string; name: string; primaryKey: string[]; pii: string[]; exclude: string[] }[];
}

/** Per-table result of one capture. */
export interface CdcTableManifest {
  schema: string;
  table: string;
  /** Stage object keys; empty when the table had no changes in this capture. */
  keys: string[];
  rows: number;
  inserts: number;
  updates: number;
  deletes: number;
  /** TRUNCATE markers (rows with _op 'T', every column NULL): "all earlier rows are gone". */
  truncates: number;
  /** The table's staged columns; every file also carries _op, _deleted, _lsn, _commit_ts, _unchanged_toast. */
  columns: { name: string; sourceType: string; type: string }[];
  /** Changes not staged (a value the warehouse type cannot hold), keyed by primary key and _lsn. */
  rejects: SourceReject[];
  /** Every rejected change, listed or not (rows = staged + rejected). */
  rejected: number;
}

/** Result of one capture: changes from the slot's confirmed position up to endLsn, staged but NOT yet confirmed. */
export interface CdcCapture {
  startLsn: string | null;
  endLsn: string;
  tables: CdcTableManifest[];
  changes: number;
  extractedAt: string;
}

/** Options of captureChanges; url and piiKey are resolved secrets, never logged. */
export interface CaptureOptions {
  url: string;
  stream: CdcStream;
  stage: ObjectStore;
  converter: Warehouse;
  scratchDir: string;
  piiKey: string;
  /** e.g. 'shop/cdc/<window start>' */
  keyPrefix: string;
  heartbeat?: (progress: { changes: number; lsn: string }) => void;
  /** Stop at the next transaction boundary after this long and return what was read (endLsn says where). */
  maxWaitMs?: number;
}

const SLOT_RE = /^[a-z0-9_]{1,63}$/;
// publication_names is parsed as an identifier list (unquoted names are lower-cased), so only
// lower-case names survive the round trip unchanged.
const PUBLICATION_RE = /^[a-z_][a-z0-9_]{0,62}$/;
const LSN_RE = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/;
// The CSV the decoder writes: CDC_FILE_COLUMNS but _deleted, which the encoder derives from _op.
const META = CDC_FILE_COLUMNS.filter((c) => c.name !== '_deleted');
const RESERVED = new Set([...META.map((m) => m.name), '_deleted']);
// The walsender renders values with the session's settings; pin them so text is unambiguous and
// round-trips exactly (timestamptz in UTC with microseconds, floats with all digits).
const SESSION_OPTIONS = '-c TimeZone=UTC -c DateStyle=ISO,YMD -c IntervalStyle=iso_8601 -c extra_float_digits=3';
const APPLICATION_NAME = 'freshline_cdc';
const BATCH_BYTES = 16 * 1024 * 1024; // CSV text buffered in memory before a part is encoded
const HEARTBEAT_EVERY = 10_000;
const PING_AFTER_MS = 250; // silence after which we ask the server where it is
const DEFAULT_MAX_WAIT_MS = 300_000;
const SLOT_BUSY_RETRY_MS = 10_000; // a just-stopped walsender can hold the slot for a moment
const PG_OBJECT_IN_USE = '55006';
const PG_DUPLICATE_OBJECT = '42710';

/** Creates the publication (FOR TABLE …) and the logical slot (pgoutput) if missing; idempotent; adds missing tables to an existing publication. */
export async function ensureCdcStream(
  url: string,
  stream: CdcStream,
): Promise<{ slotCreated: boolean; publicationCreated: boolean }> {
  validateStream(stream);
  try {
    return await withClient(url, async (client) => {
      for (const table of stream.tables) await checkTable(client, table);
      // Publication before slot: pgoutput looks publications up in the catalog as of each decoded
      // change, so a slot older than its publication fails with "publication … does not exist".
      const publicationCreated = await ensurePublication(client, stream);
      const slotCreated = await ensureSlot(client, stream.slot);
      return { slotCreated, publicationCreated };
    });
  } catch (err) {
    throw sourceError(err, url);
  }
}

/** Health of the slot: how much WAL it holds on the primary, whether anyone is reading it. */
export async function slotHealth(
  url: string,
  slot: string,
): Promise<{
  exists: boolean;
  active: boolean;
  confirmedFlushLsn: string | null;
  retainedWalBytes: number;
  lagBytes: number;
}> {
  validateSlot(slot);
  try {
    return await withClient(url, async (client) => {
      const res = await client.query<{
        active: boolean;
        confirmed: string | null;
        retained: number | null;
        lag: number | null;
      }>(
        `SELECT s.active, s.confirmed_flush_lsn::text AS confirmed,
                pg_wal_lsn_diff(w.lsn, s.restart_lsn)::float8 AS retained,
                pg_wal_lsn_diff(w.lsn, s.confirmed_flush_lsn)::float8 AS lag
           FROM pg_replication_slots s, (SELECT ${CURRENT_LSN_SQL} AS lsn) w
          WHERE s.slot_name = $1`,
        [slot],
      );
      const row = res.rows[0];
      if (!row) return { exists: false, active: false, confirmedFlushLsn: null, retainedWalBytes: 0, lagBytes: 0 };
      return {
        exists: true,
        active: row.active,
        confirmedFlushLsn: row.confirmed,
        retainedWalBytes: Math.max(0, Number(row.retained ?? 0)),
        lagBytes: Math.max(0, Number(row.lag ?? 0)),
      };
    });
  } catch (err) {
    throw sourceError(err, url);
  }
}

/** Reads every committed change from the slot's confirmed position up to the WAL position current when the capture starts, and stages one Parquet file per table. Does not advance the slot. */
export async function captureChanges(opts: CaptureOptions): Promise<CdcCapture> {
  validateStream(opts.stream);
  for (const part of opts.keyPrefix.split('/')) {
    if (part === '' || part === '.' || part === '..') throw new Error(`invalid CDC key prefix '${opts.keyPrefix}'`);
  }
  const run = new CaptureRun(opts);
  try {
    return await run.execute();
  } catch (err) {
    throw sourceError(err, opts.url);
  } finally {
    await run.cleanup();
  }
}

/** Advances the slot's confirmed position to lsn — call only after the capture's Parquet is durably staged AND loaded; a crash before this re-delivers the same changes (at-least-once, deduplicated downstream by (primary key, _lsn)). */
export async function confirmCdc(url: string, slot: string, lsn: string): Promise<void> {
  validateSlot(slot);
  if (!LSN_RE.test(lsn)) throw new Error(`invalid LSN '${lsn}'`);
  try {
    await withClient(url, async (client) => {
      const deadline = Date.now() + SLOT_BUSY_RETRY_MS;
      for (;;) {
        const res = await client.query<{ done: boolean }>(
          'SELECT confirmed_flush_lsn >= $2::pg_lsn AS done FROM pg_replication_slots WHERE slot_name = $1',
          [slot, lsn],
        );
        if (res.rows.length === 0) throw new Error(`replication slot '${slot}' does not exist`);
        // Already there (a retried activity): advancing backwards is an error, and there is nothing to do.
        if (res.rows[0].done) return;
        try {
          // Persisted at the next checkpoint: a crash before then re-delivers, which at-least-once allows.
          await client.query('SELECT pg_replication_slot_advance($1, $2::pg_lsn)', [slot, lsn]);
          return;
        } catch (err) {
          if (pgCode(err) !== PG_OBJECT_IN_USE || Date.now() > deadline) throw err;
          await sleep(100); // the capture's walsender is still exiting
        }
      }
    });
  } catch (err) {
    throw sourceError(err, url);
  }
}

/** An LSN as fixed-width text ('0/16B3748' → '00000000/016B3748'), so string order is WAL order. */
export function sortableLsn(lsn: string): string {
  const slash = lsn.indexOf('/');
  return `${lsn.slice(0, slash).padStart(8, '0')}/${lsn.slice(slash + 1).padStart(8, '0')}`.toUpperCase();
}

// ---------------------------------------------------------------------------------------------
// Capture
// ---------------------------------------------------------------------------------------------

type TableConfig = CdcStream['tables'][number];

interface TableState {
  cfg: TableConfig;
  slug: string;
  columns: StagedColumn[];
  lines: string[];
  bytes: number;
  parts: string[];
  rows: number;
  inserts: number;
  updates: number;
  deletes: number;
  truncates: number;
  rejects: SourceReject[];
  rejected: number;
}

type Tuple = Record<string, string | null | undefined>;

/**
 * pgoutput with every value kept as the server's text: the package's default pg-types parsers would
 * turn timestamptz into a millisecond Date and int8 into lossy numbers, and the encoder needs text anyway.
 */
class TextPgoutputPlugin extends PgoutputPlugin {
  constructor(
    publication: string,
    private readonly onParsed: () => void,
  ) {
    super({ protoVersion: 1, publicationNames: [publication] });
  }

  parse(buffer: Buffer): Pgoutput.Message {
    const msg = super.parse(buffer);
    // The parser caches this relation object and decodes later tuples with its column parsers, so
    // replacing them here (synchronously, before the next message is parsed) keeps every value as text.
    if (msg.tag === 'relation') for (const column of msg.columns) column.parser = keepText;
    this.onParsed();
    return msg;
  }
}

class CaptureRun {
  private readonly extractedAt = new Date().toISOString();
  private readonly dir: string;
  private readonly tables = new Map<string, TableState>();
  private readonly relations = new Map<number, TableState | null>();
  private readonly typeNames = new Map<string, string>();
  private meta: Client | null = null;
  private piiKeyId: string | null = null;
  private start = 0n;
  private target = 0n;
  /** Every transaction whose commit starts before this position has been processed. */
  private safe = 0n;
  private deadline = 0;
  private buffered = 0;
  private changes = 0;
  private parts = 0;
  /** The batch being encoded while the next one streams in; at most one, so memory stays ~2 batches. */
  private encoding: Promise<void> = Promise.resolve();
  // Stream state.
  private received = 0;
  private processed = 0;
  private inTx = false;
  private commitTs = '';
  private pendingKeepalive: { lsn: bigint; after: number } | null = null;
  private lastActivity = 0;
  private started = false;
  private finished = false;
  private settle: { resolve: () => void; reject: (err: Error) => void } | null = null;
  private handling: Promise<void> = Promise.resolve();

  constructor(private readonly opts: CaptureOptions) {
    this.dir = join(opts.scratchDir, `cdc-${process.pid}-${randomBytes(4).toString('hex')}`);
    for (const cfg of opts.stream.tables) {
      this.tables.set(`${cfg.schema}.${cfg.name}`, {
        cfg,
        slug: `${cfg.schema}.${cfg.name}`,
        columns: [],
        lines: [],
        bytes: 0,
        parts: [],
        rows: 0,
        inserts: 0,
        updates: 0,
        deletes: 0,
        truncates: 0,
        rejects: [],
        rejected: 0,
      });
    }
  }

  async execute(): Promise<CdcCapture> {
    const { opts } = this;
    this.meta = await connect(opts.url);
    const slot = await this.meta.query<{ confirmed: string | null; plugin: string; same_db: boolean }>(
      `SELECT confirmed_flush_lsn::text AS confirmed, plugin, database = current_database() AS same_db
         FROM pg_replication_slots WHERE slot_name = $1 AND slot_type = 'logical'`,
      [opts.stream.slot],
    );
    const row = slot.rows[0];
    if (!row)
      throw new Error(`logical replication slot '${opts.stream.slot}' does not exist: run ensureCdcStream first`);
    if (row.plugin !== 'pgoutput' || !row.same_db) {
      throw new Error(`replication slot '${opts.stream.slot}' is not a pgoutput slot of this database`);
    }
    if (!row.confirmed)
      throw new Error(`replication slot '${opts.stream.slot}' has no confirmed position (invalidated?)`);
    const startLsn = row.confirmed;
    this.start = lsnToBig(startLsn);
    this.safe = this.start;
    this.target = await captureTarget(this.meta);
    if (this.target <= this.start) {
      // Nothing was written since the last confirmed position: no need to open a stream at all.
      return this.result(startLsn, startLsn);
    }

    mkdirSync(this.dir, { recursive: true });
    if (opts.stream.tables.some((t) => t.pii.length > 0))
      this.piiKeyId = await registerPiiKey(opts.converter, opts.piiKey);
    this.deadline = Date.now() + (opts.maxWaitMs ?? DEFAULT_MAX_WAIT_MS);
    await this.streamWithRetry();
    const manifests: CdcTableManifest[] = [];
    for (const table of this.tables.values()) manifests.push(await this.finalize(table));
    return this.result(startLsn, bigToLsn(this.safe), manifests);
  }

  async cleanup(): Promise<void> {
    await this.encoding.catch(() => undefined); // it writes into the scratch directory removed below
    await this.meta?.end().catch(() => undefined);
    this.meta = null;
    rmSync(this.dir, { recursive: true, force: true });
  }

  private result(startLsn: string, endLsn: string, tables?: CdcTableManifest[]): CdcCapture {
    return {
      startLsn,
      endLsn,
      tables: tables ?? [...this.tables.values()].map((t) => this.manifest(t, [])),
      changes: this.changes,
      extractedAt: this.extractedAt,
    };
  }

  private manifest(t: TableState, keys: string[]): CdcTableManifest {
    const { rows, inserts, updates, deletes, truncates } = t;
    return {
      schema: t.cfg.schema,
      table: t.cfg.name,
      keys,
      rows,
      inserts,
      updates,
      deletes,
      truncates,
      columns: t.columns,
      rejects: t.rejects.slice(0, MAX_LISTED_REJECTS),
      rejected: t.rejected,
    };
  }

  private async streamWithRetry(): Promise<void> {
    const busyUntil = Date.now() + SLOT_BUSY_RETRY_MS;
    for (;;) {
      try {
        await this.streamOnce();
        return;
      } catch (err) {
        // Only retry before any data arrived: a busy slot means a previous reader is still exiting.
        if (pgCode(err) !== PG_OBJECT_IN_USE || this.received > 0 || Date.now() > busyUntil) {
          if (pgCode(err) === PG_OBJECT_IN_USE) {
            throw new Error(
              `replication slot '${this.opts.stream.slot}' is in use by another reader; captures of one slot must not overlap`,
              { cause: err },
            );
          }
          throw err;
        }
        await sleep(200);
      }
    }
  }

  private async streamOnce(): Promise<void> {
    const { opts } = this;
    this.finished = false;
    const service = new LogicalReplicationService(
      { connectionString: opts.url, application_name: APPLICATION_NAME, options: SESSION_OPTIONS },
      // Never acknowledge on our own: auto-ack and the periodic status timer (timeoutSeconds) would
      // both move the slot past changes that are not yet staged and loaded.
      { acknowledge: { auto: false, timeoutSeconds: 0 }, flowControl: { enabled: true } },
    );
    const plugin = new TextPgoutputPlugin(opts.stream.publication, () => {
      this.received++;
      this.lastActivity = Date.now();
    });
    const done = new Promise<void>((resolve, reject) => (this.settle = { resolve, reject }));
    service.on('error', (err: Error) => this.fail(err));
    service.on('start', () => {
      this.started = true;
      this.lastActivity = Date.now();
    });
    service.on('data', (lsn: string, msg: Pgoutput.Message) => this.onData(lsn, msg));
    service.on('heartbeat', (lsn: string, _ts: number, shouldRespond: boolean) =>
      this.onKeepalive(service, lsn, shouldRespond),
    );
    const timer = setInterval(() => this.onTick(service), PING_AFTER_MS);
    const subscribed = service.subscribe(plugin, opts.stream.slot).then(
      () =>
        this.fail(
          new Error(
            `replication stream of slot '${opts.stream.slot}' ended before the capture reached ${bigToLsn(this.target)}`,
          ),
        ),
      (err: Error) => this.fail(err),
    );
    try {
      await done;
    } finally {
      clearInterval(timer);
      this.finished = true;
      // A stuck close must not hang the activity; the server ends the walsender when the socket goes.
      await within(
        service.destroy().catch(() => undefined),
        5_000,
      );
      await within(subscribed, 1_000);
      await this.handling; // a handler may still be flushing when a timer ended the capture
      if (this.started) await this.waitSlotReleased();
    }
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.settle?.resolve();
  }

  private fail(err: unknown): void {
    if (this.finished) return;
    this.finished = true;
    this.settle?.reject(err instanceof Error ? err : new Error(String(err)));
  }

  private advanceSafe(lsn: bigint): void {
    const capped = lsn < this.target ? lsn : this.target;
    if (capped > this.safe) this.safe = capped;
  }

  /** Status update that reports the slot's own confirmed position: keeps the walsender alive without moving the slot. */
  private ack(service: LogicalReplicationService, ping: boolean): void {
    // The package reports lsn + 1 as flushed, so pass one less than the position to report.
    void service.acknowledge(bigToLsn(this.start - 1n), ping).catch(() => undefined);
  }

  private onKeepalive(service: LogicalReplicationService, lsn: string, shouldRespond: boolean): void {
    this.lastActivity = Date.now();
    if (shouldRespond) this.ack(service, false);
    // Keepalives bypass the package's data queue; remember how many messages preceded this one so it
    // is acted on only after they are processed (its position covers them).
    this.pendingKeepalive = { lsn: lsnToBig(lsn), after: this.received };
    if (this.processed >= this.received) this.applyKeepalive();
  }

  private applyKeepalive(): void {
    const keepalive = this.pendingKeepalive;
    if (!keepalive || this.processed < keepalive.after) return;
    this.pendingKeepalive = null;
    // The walsender has decoded WAL up to this position and sent every transaction committed before it.
    if (!this.inTx) this.advanceSafe(keepalive.lsn);
    this.checkDone();
  }

  private checkDone(): void {
    // `safe` moves only with processed messages, so stopping between transactions is always a valid
    // boundary (at maxWaitMs a capture returns what it has; the rest goes to the next capture).
    if (this.safe >= this.target || (!this.inTx && Date.now() > this.deadline)) this.finish();
  }

  private onTick(service: LogicalReplicationService): void {
    if (this.finished || !this.started) return;
    // An idle walsender may stay silent; a ping makes it report its position now, so a capture
    // with nothing (more) to read ends promptly instead of waiting for maxWaitMs.
    if (Date.now() - this.lastActivity >= PING_AFTER_MS) this.ack(service, true);
    this.checkDone();
  }

  /** The package runs one handler at a time; remembering it lets the capture wait for it before finalizing. */
  private onData(lsn: string, msg: Pgoutput.Message): Promise<void> {
    this.handling = this.handle(lsn, msg);
    return this.handling;
  }

  private async handle(lsn: string, msg: Pgoutput.Message): Promise<void> {
    this.processed++;
    if (this.finished) return;
    try {
      switch (msg.tag) {
        case 'begin': {
          if (lsnToBig(msg.commitLsn ?? '0/0') >= this.target) {
            // Transactions arrive in commit order: this one and all later ones belong to the next capture.
            this.advanceSafe(this.target);
            this.finish();
            return;
          }
          this.inTx = true;
          this.commitTs = isoMicros(msg.commitTime as unknown as bigint);
          break;
        }
        case 'commit':
          this.inTx = false;
          this.advanceSafe(lsnToBig(msg.commitEndLsn ?? '0/0'));
          break;
        case 'relation':
          await this.onRelation(msg);
          break;
        case 'insert':
          this.addRow(msg.relation, 'I', lsn, msg.new as Tuple, false);
          break;
        case 'update': {
          const table = this.relations.get(msg.relation.relationOid);
          const before = (msg.key ?? msg.old) as Tuple | null;
          const after = msg.new as Tuple;
          // A changed primary key retires the old key: without a tombstone it would live on downstream.
          if (table && before && table.cfg.primaryKey.some((k) => before[k] !== undefined && before[k] !== after[k])) {
            this.addRow(msg.relation, 'D', lsn, before, false);
          }
          this.addRow(msg.relation, 'U', lsn, after, true);
          break;
        }
        case 'delete':
          this.addRow(msg.relation, 'D', lsn, (msg.key ?? msg.old ?? {}) as Tuple, false);
          break;
        case 'truncate':
          for (const relation of msg.relations) this.addRow(relation, 'T', lsn, {}, false);
          break;
        default:
          break; // origin, type, message: nothing to stage
      }
      if (this.buffered >= BATCH_BYTES) {
        for (const table of this.tables.values()) if (table.lines.length) await this.flushTable(table);
      }
      this.applyKeepalive();
      this.checkDone();
    } catch (err) {
      this.fail(err);
    }
  }

  private async onRelation(msg: Pgoutput.MessageRelation): Promise<void> {
    const table = this.tables.get(`${msg.schema}.${msg.name}`) ?? null;
    this.relations.set(msg.relationOid, table);
    if (!table) return; // published but not part of this stream's configuration
    const types = await this.typeNamesOf(msg.columns);
    const next = [...table.columns];
    let changed = false;
    msg.columns.forEach((column, i) => {
      if (table.cfg.exclude.includes(column.name)) return;
      if (RESERVED.has(column.name))
        throw new Error(`column ${table.slug}.${column.name} collides with a CDC metadata column`);
      const sourceType = types[i];
      const type = table.cfg.pii.includes(column.name) ? 'VARCHAR' : warehouseType(sourceType);
      const at = next.findIndex((c) => c.name === column.name);
      if (at < 0) {
        next.push({ name: column.name, sourceType, type });
        changed = true;
      } else if (next[at].sourceType !== sourceType) {
        // Type changed mid-capture: text holds both versions' values exactly.
        next[at] = { name: column.name, sourceType, type: next[at].type === type ? type : 'VARCHAR' };
        changed = true;
      }
    });
    // Every part has one fixed column list, so a schema change closes the part being buffered.
    if (changed && table.lines.length) await this.flushTable(table);
    table.columns = next;
  }

  private async typeNamesOf(columns: Pgoutput.RelationColumn[]): Promise<string[]> {
    const keyOf = (c: Pgoutput.RelationColumn) => `${c.typeOid}:${c.typeMod}`;
    const missing = columns.filter((c) => !this.typeNames.has(keyOf(c)));
    if (missing.length) {
      const res = await this.meta!.query<{ t: string }>(
        'SELECT format_type(u.o, u.m) AS t FROM unnest($1::oid[], $2::int4[]) WITH ORDINALITY AS u(o, m, i) ORDER BY u.i',
        [missing.map((c) => c.typeOid >>> 0), missing.map((c) => c.typeMod)],
      );
      missing.forEach((c, i) => this.typeNames.set(keyOf(c), res.rows[i].t));
    }
    return columns.map((c) => this.typeNames.get(keyOf(c))!);
  }

  private addRow(
    relation: Pgoutput.MessageRelation,
    op: 'I' | 'U' | 'D' | 'T',
    lsn: string,
    tuple: Tuple,
    mayOmitToast: boolean,
  ): void {
    const table = this.relations.get(relation.relationOid);
    if (!table) return;
    let unchanged: string[] | null = null;
    // Built with join: one flat string per row. `+=` would leave a rope of dozens of string nodes per
    // row, costing many times the batch size in heap.
    const fields: string[] = [op, sortableLsn(lsn), this.commitTs, ''];
    for (const column of table.columns) {
      const value = tuple[column.name];
      // An unchanged TOASTed value is not sent under REPLICA IDENTITY DEFAULT: say so instead of
      // letting NULL pass for the real value (downstream keeps the previous version's value).
      if (value === undefined && mayOmitToast && column.name in tuple) (unchanged ??= []).push(column.name);
      fields.push(csvField(value));
    }
    if (unchanged) fields[3] = csvField(unchanged.join(','));
    const line = fields.join(','); // newline added when the batch is written
    table.lines.push(line);
    table.bytes += line.length + 1;
    this.buffered += line.length + 1;
    table.rows++;
    if (op === 'I') table.inserts++;
    else if (op === 'U') table.updates++;
    else if (op === 'D') table.deletes++;
    else table.truncates++;
    this.changes++;
    if (this.changes % HEARTBEAT_EVERY === 0) this.opts.heartbeat?.({ changes: this.changes, lsn: sortableLsn(lsn) });
  }

  /**
   * Hands the table's buffered rows to the encoder as one Parquet part (PII is tokenised inside the
   * encoder, so plain values never reach a file). Waits for the previous part first, then returns
   * while this one encodes, so streaming and encoding overlap.
   */
  private async flushTable(table: TableState): Promise<void> {
    await this.encoding;
    const lines = table.lines;
    table.lines = [];
    this.buffered -= table.bytes;
    table.bytes = 0;
    const base = join(this.dir, `${table.slug}.${this.parts++}`);
    const parquet = `${base}.parquet`;
    table.parts.push(parquet); // in stream order, whenever its encoding finishes
    const pii = this.piiKeyId && table.cfg.pii.length ? { columns: table.cfg.pii, keyId: this.piiKeyId } : null;
    this.encoding = encodeParquet(this.opts.converter, `${base}.csv`, parquet, table, pii, lines).then((out) => {
      // A change no row of the warehouse can hold is quarantined, not retried forever: the slot moves past it.
      table.rejects.push(...out.rejects.map((r) => withheldKey(r, table.cfg.pii)));
      table.rejected += out.rejected;
    });
    this.encoding.catch((err: Error) => this.fail(err));
  }

  private async finalize(table: TableState): Promise<CdcTableManifest> {
    if (table.lines.length) await this.flushTable(table);
    await this.encoding;
    if (table.parts.length === 0) return this.manifest(table, []);
    const db = this.opts.converter;
    let file = table.parts[0];
    if (table.parts.length > 1) {
      file = join(this.dir, `${table.slug}.parquet`);
      // union_by_name: a column added mid-capture exists only in the later parts.
      await db.run(
        `COPY (SELECT * FROM read_parquet([${table.parts.map((p) => quoteLiteral(p, 'duckdb')).join(', ')}], union_by_name = true))
           TO ${quoteLiteral(file, 'duckdb')} (FORMAT parquet, COMPRESSION zstd)`,
      );
    }
    const [{ n }] = await db.query<{ n: string }>(
      `SELECT count(*)::VARCHAR AS n FROM read_parquet(${quoteLiteral(file, 'duckdb')})`,
    );
    if (Number(n) + table.rejected !== table.rows) {
      throw new Error(
        `encoded ${n} rows (+${table.rejected} rejected) for ${table.slug} but captured ${table.rows}: not staging an incomplete file`,
      );
    }
    const put = await this.opts.stage.putFile(`${this.opts.keyPrefix}/${table.slug}/changes.parquet`, file);
    return this.manifest(table, [put.key]);
  }

  private async waitSlotReleased(): Promise<void> {
    const until = Date.now() + 5_000;
    while (Date.now() < until) {
      const res = await this.meta!.query<{ active: boolean }>(
        'SELECT active FROM pg_replication_slots WHERE slot_name = $1',
        [this.opts.stream.slot],
      );
      if (!res.rows[0]?.active) return;
      await sleep(20);
    }
  }
}

/**
 * The capture's end position. The insert position, not pg_current_wal_lsn() (the write position): with
 * asynchronous commit a committed transaction can sit in WAL buffers beyond the write position, and
 * would then miss the capture that started after it. When the insert position sits just past a page
 * header it is moved back onto the page boundary, where the last record ends, or an idle server would
 * never report reaching it.
 */
async function captureTarget(client: Client): Promise<bigint> {
  const res = await client.query<{ lsn: string; recovery: boolean; block: string; segment: string }>(
    `SELECT (${CURRENT_LSN_SQL})::text AS lsn, pg_is_in_recovery() AS recovery,
            current_setting('wal_block_size') AS block, pg_size_bytes(current_setting('wal_segment_size'))::text AS segment`,
  );
  const { lsn, recovery, block, segment } = res.rows[0];
  let target = lsnToBig(lsn);
  if (!recovery) {
    if (target % BigInt(segment) === 40n)
      target -= 40n; // long page header opens each segment
    else if (target % BigInt(block) === 24n) target -= 24n; // short page header
  }
  return target;
}

// Logical decoding on a standby (PostgreSQL 16+) decodes up to what it has replayed.
const CURRENT_LSN_SQL =
  'CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_insert_lsn() END';

/** Encodes one batch of change rows (CSV text, metadata columns first) as Parquet, PII masked. */
async function encodeParquet(
  db: Warehouse,
  fifo: string,
  parquet: string,
  table: TableState,
  pii: PiiMask,
  lines: string[],
): Promise<EncodeResult> {
  const columns = [...table.columns];
  return encodeCsvToParquet({
    db,
    source: Readable.from(chunks(lines)),
    fifo,
    parquet,
    csvColumns: [...META, ...columns],
    pii,
    select: [
      ...maskedSelect(columns, pii),
      '_op',
      `_op IN ('D', 'T') AS _deleted`,
      '_lsn',
      '_commit_ts',
      '_unchanged_toast',
    ],
    rejectKeys: [...table.cfg.primaryKey, '_lsn'],
  });
}

/** The batch as CSV text in ~1 MB pieces (rows are stored without their newline). */
function* chunks(lines: string[]): Generator<string> {
  const per = 4096;
  for (let i = 0; i < lines.length; i += per) yield `${lines.slice(i, i + per).join('\n')}\n`;
}

// ---------------------------------------------------------------------------------------------
// Setup helpers
// ---------------------------------------------------------------------------------------------

async function checkTable(client: Client, table: TableConfig): Promise<void> {
  const res = await client.query<{ kind: string; ident: string; columns: string[]; key: string[] }>(
    `SELECT c.relkind::text AS kind, c.relreplident::text AS ident,
            ARRAY(SELECT a.attname::text FROM pg_attribute a
                   WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum) AS columns,
            ARRAY(SELECT a.attname::text FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
                   WHERE i.indrelid = c.oid
                     AND ((c.relreplident = 'd' AND i.indisprimary) OR (c.relreplident = 'i' AND i.indisreplident))) AS key
       FROM pg_class c WHERE c.oid = to_regclass($1)`,
    [qualified(table.schema, table.name)],
  );
  const name = `${table.schema}.${table.name}`;
  const row = res.rows[0];
  if (!row || !['r', 'p'].includes(row.kind)) throw new Error(`source table ${name} does not exist`);
  for (const column of [...table.primaryKey, ...table.pii, ...table.exclude]) {
    if (!row.columns.includes(column)) throw new Error(`column '${column}' declared in config is missing from ${name}`);
  }
  // Deletes carry only the replica identity: unless it covers the primary key, tombstones would
  // arrive without the key they delete.
  if (row.ident === 'f') return;
  if (row.ident === 'n' || !table.primaryKey.every((k) => row.key.includes(k))) {
    throw new Error(
      `the replica identity of ${name} (${row.ident === 'n' ? 'NOTHING' : row.key.join(', ') || 'none'}) does not cover its ` +
        `primary key (${table.primaryKey.join(', ')}); deletes would lose their key. ` +
        `Fix with ALTER TABLE ${name} REPLICA IDENTITY USING INDEX <primary key index> (or FULL).`,
    );
  }
}

async function ensurePublication(client: Client, stream: CdcStream): Promise<boolean> {
  const tables = stream.tables.map((t) => qualified(t.schema, t.name));
  let created = false;
  const read = () =>
    client.query<{ all: boolean; ins: boolean; upd: boolean; del: boolean }>(
      'SELECT puballtables AS all, pubinsert AS ins, pubupdate AS upd, pubdelete AS del FROM pg_publication WHERE pubname = $1',
      [stream.publication],
    );
  let pub = await read();
  if (pub.rows.length === 0) {
    try {
      await client.query(`CREATE PUBLICATION ${quoteIdent(stream.publication)} FOR TABLE ${tables.join(', ')}`);
      created = true;
    } catch (err) {
      if (pgCode(err) !== PG_DUPLICATE_OBJECT) throw err; // created concurrently: fall through and complete it
    }
    pub = await read();
  }
  const p = pub.rows[0];
  if (!p.ins || !p.upd || !p.del) {
    throw new Error(
      `publication '${stream.publication}' does not publish inserts, updates and deletes; changes would be lost`,
    );
  }
  if (created || p.all) return created;
  const members = await client.query<{ schemaname: string; tablename: string }>(
    'SELECT schemaname, tablename FROM pg_publication_tables WHERE pubname = $1',
    [stream.publication],
  );
  const have = new Set(members.rows.map((r) => `${r.schemaname}.${r.tablename}`));
  for (const t of stream.tables) {
    if (have.has(`${t.schema}.${t.name}`)) continue;
    try {
      // Changes to a newly added table are published from here on; its earlier rows need a snapshot.
      await client.query(
        `ALTER PUBLICATION ${quoteIdent(stream.publication)} ADD TABLE ${qualified(t.schema, t.name)}`,
      );
    } catch (err) {
      if (pgCode(err) !== PG_DUPLICATE_OBJECT) throw err;
    }
  }
  return false;
}

async function ensureSlot(client: Client, slot: string): Promise<boolean> {
  const existing = await client.query<{ type: string; plugin: string | null; same_db: boolean }>(
    'SELECT slot_type AS type, plugin, database = current_database() AS same_db FROM pg_replication_slots WHERE slot_name = $1',
    [slot],
  );
  const row = existing.rows[0];
  if (row) {
    if (row.type !== 'logical' || row.plugin !== 'pgoutput' || !row.same_db) {
      throw new Error(`replication slot '${slot}' exists but is not a pgoutput logical slot of this database`);
    }
    return false;
  }
  try {
    await client.query("SELECT pg_create_logical_replication_slot($1, 'pgoutput')", [slot]);
    return true;
  } catch (err) {
    if (pgCode(err) === PG_DUPLICATE_OBJECT) return false;
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------------

function validateSlot(slot: string): void {
  if (!SLOT_RE.test(slot)) throw new Error(`invalid replication slot name '${slot}': use 1-63 of a-z, 0-9 and _`);
}

function validateStream(stream: CdcStream): void {
  validateSlot(stream.slot);
  if (!PUBLICATION_RE.test(stream.publication)) {
    throw new Error(`invalid publication name '${stream.publication}': use lower-case letters, digits and _`);
  }
  if (stream.tables.length === 0) throw new Error('a CDC stream needs at least one table');
  for (const t of stream.tables) {
    qualified(t.schema, t.name);
    if (t.primaryKey.length === 0) throw new Error(`${t.schema}.${t.name} needs a primary key for CDC`);
    [...t.primaryKey, ...t.pii, ...t.exclude].forEach(quoteIdent);
  }
}

async function connect(url: string): Promise<Client> {
  const client = new Client({ connectionString: url, application_name: APPLICATION_NAME });
  // An idle client's socket error is reported by the next query; without a listener it would crash the process.
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

async function withClient<T>(url: string, fn: (client: Client) => Promise<T>): Promise<T> {
  const client = await connect(url);
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

function pgCode(err: unknown): string | undefined {
  return (err as { code?: string } | null)?.code;
}

function csvField(value: string | null | undefined): string {
  if (value === null || value === undefined) return ''; // unquoted empty = NULL; '' is written as ""
  return `"${value.includes('"') ? value.replace(/"/g, '""') : value}"`;
}

function keepText(raw: string): string {
  return raw;
}

function lsnToBig(lsn: string): bigint {
  const m = LSN_RE.exec(lsn);
  if (!m) throw new Error(`invalid LSN '${lsn}'`);
  return (BigInt(`0x${m[1]}`) << 32n) | BigInt(`0x${m[2]}`);
}

function bigToLsn(value: bigint): string {
  return `${(value >> 32n).toString(16).toUpperCase()}/${(value & 0xffffffffn).toString(16).toUpperCase()}`;
}

/** Microseconds since the Unix epoch as ISO-8601 UTC with all six fractional digits. */
function isoMicros(us: bigint): string {
  const iso = new Date(Number(us / 1000n)).toISOString();
  return `${iso.slice(0, 23)}${(us % 1000n).toString().padStart(3, '0')}Z`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Waits for `promise` at most `ms`; the timer is cleared so it never keeps the process alive. */
async function within(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([promise, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}
