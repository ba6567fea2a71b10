/**
 * Demo retail OLTP generator for schema `shop` (see schema.sql): a deterministic bulk seed and a
 * realistic change stream. Money is computed in integer cents and written as exact decimal text,
 * because the pipeline's quality checks compare totals with `=`, not with a tolerance.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Pool, PoolClient, QueryResultRow } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';

// ---------------------------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------------------------

/** Options for seedDemoData: how many customers/orders to add and how to spread them in time. */
export interface SeedOptions {
  customers: number;
  orders: number;
  seed?: number;
  /** history spread in days, default 30 */
  days?: number;
}

/** Rows inserted by one seedDemoData call (stores/products are 0 when they already existed) and wall time. */
export interface SeedSummary {
  stores: number;
  products: number;
  customers: number;
  orders: number;
  orderItems: number;
  payments: number;
  shipments: number;
  refunds: number;
  seconds: number;
}

/** How many changes of each kind one generateChanges tick attempts. */
export interface ChangeOptions {
  newOrders: number;
  updates: number;
  lateCorrections: number;
  cancellations: number;
  refunds: number;
  seed?: number;
}

/** Changes actually applied by one tick (can be below the request when too few rows qualify). */
export interface ChangeSummary {
  inserted: number;
  updated: number;
  corrected: number;
  cancelled: number;
  refunded: number;
}

/** Applies schema.sql (idempotent). */
export async function createDemoSchema(pool: Pool): Promise<void> {
  const sql = await fs.promises.readFile(SCHEMA_FILE, 'utf8');
  await withClient(pool, (client) =>
    withTransaction(client, async () => {
      // Parallel appliers (tests, workers) race on CREATE ... IF NOT EXISTS and the trigger
      // drop/re-create; an advisory lock turns that into a harmless queue.
      await client.query('SELECT pg_advisory_xact_lock($1)', [SCHEMA_LOCK_KEY]);
      await client.query(sql);
    }),
  );
}

/** Seeds reference data and N customers / M orders with a deterministic PRNG. */
export async function seedDemoData(pool: Pool, opts: SeedOptions): Promise<SeedSummary> {
  validateSeedOptions(opts);
  const startedMs = performance.now();
  const rng = new Rng(opts.seed ?? DEFAULT_SEED);
  const days = opts.days ?? DEFAULT_DAYS;
  const counts = await withClient(pool, async (client) => {
    // One transaction: a concurrent extractor sees the whole seed or none of it, never an order
    // without its lines or payment. Caveat: every row's updated_at is this transaction's start
    // time yet becomes visible only at commit, so an updated_at cursor needs an overlap window.
    const result = await withTransaction(client, async () => {
      const nowMs = await databaseNowMs(client);
      const stores = await insertStores(client);
      const products = await insertProducts(client);
      const catalog = await loadCatalog(client);
      const customers = await seedCustomers(client, rng, opts.customers, nowMs, days);
      const pickCustomer = await customerPicker(client, rng, customers);
      const orders = await seedOrders(client, rng, catalog, pickCustomer, opts.orders, nowMs, days);
      return { stores, products, customers: customers.count, ...orders };
    });
    // Fresh statistics keep generateChanges' sampling queries on index plans right away.
    await client.query(`ANALYZE ${TABLES.join(', ')}`);
    return result;
  });
  return { ...counts, seconds: Math.round(performance.now() - startedMs) / 1000 };
}

/** One tick of the change stream: new orders, status updates, late corrections (≤7 days old), cancellations and refunds. */
export async function generateChanges(pool: Pool, opts: ChangeOptions): Promise<ChangeSummary> {
  validateChangeOptions(opts);
  const rng = new Rng(opts.seed ?? Math.floor(Math.random() * 2 ** 32));
  return withClient(pool, async (client) => {
    if (opts.seed !== undefined) {
      // Row sampling uses SQL random(); seeding it makes a tick replayable on identical data.
      await client.query('SELECT setseed($1)', [(opts.seed >>> 0) / 2 ** 32]);
    }
    const catalog = await loadCatalog(client);
    const customers = await customerRange(client);
    return {
      inserted: await repeat(opts.newOrders, () => insertNewOrder(client, rng, catalog, customers)),
      updated: await applyEach(await sampleAdvanceable(client, opts.updates), (id) => advanceOrder(client, rng, id)),
      corrected: await applyEach(await sampleCorrectable(client, opts.lateCorrections), (id) =>
        correctOrder(client, rng, id),
      ),
      cancelled: await applyEach(await sampleCancellable(client, opts.cancellations), (id) => cancelOrder(client, id)),
      refunded: await applyEach(await sampleRefundable(client, opts.refunds), (id) => refundOrder(client, rng, id)),
    };
  });
}

// ---------------------------------------------------------------------------------------------
// Constants and reference data
// ---------------------------------------------------------------------------------------------

const SCHEMA_FILE = path.join(__dirname, 'schema.sql');
const SCHEMA_LOCK_KEY = 0x46524c53; // any constant works; only createDemoSchema takes it
const DEFAULT_SEED = 20240601;
const DEFAULT_DAYS = 30;
const CATALOG_SEED = 7; // fixed so the product catalogue is identical whatever opts.seed is
const CHUNK_ROWS = 10_000; // customers/orders generated per COPY round: bounds memory, amortises round trips
const COPY_BATCH_ROWS = 1_000; // rows per CopyData write
const RECENT_ORDER_WINDOW = 100_000; // change-stream sampling looks only at the newest N order ids
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const TAX_PERCENT = 8;
const FREE_SHIPPING_CENTS = 5_000;
const SHIPPING_CENTS = 499;

const TABLES = [
  'shop.stores',
  'shop.products',
  'shop.customers',
  'shop.orders',
  'shop.order_items',
  'shop.payments',
  'shop.shipments',
  'shop.refunds',
] as const;

type Channel = 'store' | 'online';
type OrderStatus = 'placed' | 'paid' | 'shipped' | 'delivered' | 'cancelled' | 'refunded';
type ShipmentStatus = 'label_created' | 'in_transit' | 'delivered' | 'returned';

interface StoreSeed {
  id: number;
  code: string;
  name: string;
  region: 'North' | 'South' | 'East' | 'West';
  channel: Channel;
  openedOn: string;
}

const STORES: readonly StoreSeed[] = [
  { id: 1, code: 'N01', name: 'Freshline Minneapolis', region: 'North', channel: 'store', openedOn: '2014-03-15' },
  { id: 2, code: 'N02', name: 'Freshline Milwaukee', region: 'North', channel: 'store', openedOn: '2016-09-01' },
  { id: 3, code: 'N03', name: 'Freshline Chicago Loop', region: 'North', channel: 'store', openedOn: '2018-05-12' },
  { id: 4, code: 'S01', name: 'Freshline Atlanta', region: 'South', channel: 'store', openedOn: '2015-02-20' },
  { id: 5, code: 'S02', name: 'Freshline Houston', region: 'South', channel: 'store', openedOn: '2017-11-04' },
  { id: 6, code: 'S03', name: 'Freshline Nashville', region: 'South', channel: 'store', openedOn: '2020-06-27' },
  { id: 7, code: 'E01', name: 'Freshline Boston', region: 'East', channel: 'store', openedOn: '2013-10-05' },
  { id: 8, code: 'E02', name: 'Freshline Philadelphia', region: 'East', channel: 'store', openedOn: '2019-04-13' },
  { id: 9, code: 'W01', name: 'Freshline Denver', region: 'West', channel: 'store', openedOn: '2016-01-23' },
  { id: 10, code: 'W02', name: 'Freshline Portland', region: 'West', channel: 'store', openedOn: '2021-08-14' },
  { id: 11, code: 'WEB-E', name: 'Freshline Online East', region: 'East', channel: 'online', openedOn: '2019-01-07' },
  { id: 12, code: 'WEB-W', name: 'Freshline Online West', region: 'West', channel: 'online', openedOn: '2020-03-16' },
];

const PRODUCT_COUNT = 200;

const CATEGORIES: readonly { name: string; items: readonly string[]; minCents: number; maxCents: number }[] = [
  {
    name: 'Produce',
    items: ['Apples', 'Bananas', 'Avocados', 'Spinach', 'Carrots', 'Blueberries', 'Tomatoes', 'Lemons'],
    minCents: 99,
    maxCents: 799,
  },
  {
    name: 'Bakery',
    items: ['Sourdough Loaf', 'Bagels', 'Croissants', 'Baguette', 'Muffins', 'Rye Bread'],
    minCents: 249,
    maxCents: 899,
  },
  {
    name: 'Dairy',
    items: ['Whole Milk', 'Greek Yogurt', 'Cheddar', 'Butter', 'Eggs', 'Mozzarella', 'Oat Milk'],
    minCents: 199,
    maxCents: 1299,
  },
  {
    name: 'Pantry',
    items: ['Olive Oil', 'Pasta', 'Basmati Rice', 'Peanut Butter', 'Granola', 'Tomato Sauce', 'Honey', 'Coffee Beans'],
    minCents: 149,
    maxCents: 2499,
  },
  {
    name: 'Beverages',
    items: ['Sparkling Water', 'Orange Juice', 'Cold Brew', 'Green Tea', 'Kombucha', 'Lemonade'],
    minCents: 129,
    maxCents: 899,
  },
  {
    name: 'Frozen',
    items: ['Pizza', 'Ice Cream', 'Dumplings', 'Mixed Berries', 'Veggie Burgers'],
    minCents: 299,
    maxCents: 1199,
  },
  {
    name: 'Household',
    items: ['Paper Towels', 'Dish Soap', 'Laundry Detergent', 'Trash Bags', 'Sponges'],
    minCents: 299,
    maxCents: 2999,
  },
  {
    name: 'Personal Care',
    items: ['Shampoo', 'Toothpaste', 'Body Wash', 'Sunscreen', 'Deodorant'],
    minCents: 299,
    maxCents: 1999,
  },
];
const PRODUCT_STYLES = ['Organic', 'Classic', 'Family Size', 'Fresh', 'Premium', 'Everyday', 'Local', 'Value'];

const FIRST_NAMES = [
  'James',
  'Mary',
  'Robert',
  'Patricia',
  'John',
  'Jennifer',
  'Michael',
  'Linda',
  'David',
  'Elizabeth',
  'William',
  'Barbara',
  'Richard',
  'Susan',
  'Joseph',
  'Jessica',
  'Thomas',
  'Sarah',
  'Carlos',
  'Karen',
  'Daniel',
  'Lisa',
  'Matthew',
  'Nancy',
  'Anthony',
  'Betty',
  'Mark',
  'Sandra',
  'Wei',
  'Ashley',
  'Steven',
  'Emily',
  'Andrew',
  'Priya',
  'Kenji',
  'Fatima',
  'Luis',
  'Olivia',
  'Noah',
  'Aisha',
];
const LAST_NAMES = [
  'Smith',
  'Johnson',
  'Williams',
  'Brown',
  'Jones',
  'Garcia',
  'Miller',
  'Davis',
  'Rodriguez',
  'Martinez',
  'Hernandez',
  'Lopez',
  'Gonzalez',
  'Wilson',
  'Anderson',
  'Thomas',
  'Taylor',
  'Moore',
  'Jackson',
  'Martin',
  'Lee',
  'Perez',
  'Thompson',
  'White',
  'Harris',
  'Sanchez',
  'Clark',
  'Ramirez',
  "O'Brien",
  'Nguyen',
  'Kim',
  'Patel',
  'Chen',
  'Walker',
  'Young',
  'Allen',
  'King',
  'Wright',
  'Scott',
  'Tanaka',
];
const STREETS = [
  'Maple',
  'Oak',
  'Pine',
  'Cedar',
  'Elm',
  'Washington',
  'Lake',
  'Hill',
  'Park',
  'Main',
  'Sunset',
  'River',
];
const STREET_TYPES = ['St', 'Ave', 'Blvd', 'Rd', 'Ln', 'Dr', 'Ct'];
// City paired with a matching area code so phone numbers look plausible next to the address.
const CITIES: readonly (readonly [string, string])[] = [
  ['Minneapolis', '612'],
  ['Milwaukee', '414'],
  ['Chicago', '312'],
  ['Atlanta', '404'],
  ['Houston', '713'],
  ['Nashville', '615'],
  ['Boston', '617'],
  ['Philadelphia', '215'],
  ['Denver', '303'],
  ['Portland', '503'],
  ['Seattle', '206'],
  ['Austin', '512'],
  ['New York', '212'],
  ['San Francisco', '415'],
];

const CARRIERS = ['UPS', 'FedEx', 'USPS', 'DHL'] as const;
const REFUND_REASONS = ['damaged', 'wrong_item', 'not_as_described', 'late_delivery', 'customer_request'];

// ---------------------------------------------------------------------------------------------
// PRNG
// ---------------------------------------------------------------------------------------------

// mulberry32: tiny, fast and good enough for synthetic data; Math.random cannot be seeded.
class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  chance(probability: number): boolean {
    return this.next() < probability;
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)] as T;
  }

  weighted<T>(choices: readonly (readonly [T, number])[]): T {
    const total = choices.reduce((sum, [, weight]) => sum + weight, 0);
    let roll = this.next() * total;
    for (const [value, weight] of choices) {
      roll -= weight;
      if (roll < 0) return value;
    }
    return choices[choices.length - 1]![0];
  }

  digits(count: number): string {
    let out = '';
    for (let i = 0; i < count; i++) out += String(this.int(0, 9));
    return out;
  }

  hex(count: number): string {
    let out = '';
    for (let i = 0; i < count; i++) out += this.int(0, 15).toString(16);
    return out;
  }
}

// ---------------------------------------------------------------------------------------------
// Money (integer cents)
// ---------------------------------------------------------------------------------------------

function money(cents: number): string {
  const abs = Math.abs(cents);
  return `${cents < 0 ? '-' : ''}${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, '0')}`;
}

function parseCents(value: string): number {
  const match = /^(-?)(\d+)(?:\.(\d{1,2}))?$/.exec(value.trim());
  if (!match) throw new Error(`not a 2-decimal money value: ${value}`);
  const cents = Number(match[2]) * 100 + Number((match[3] ?? '0').padEnd(2, '0'));
  return match[1] ? -cents : cents;
}

// Integer round-half-up, so no float ever touches an amount.
function percentOf(cents: number, percent: number): number {
  return Math.floor((cents * percent + 50) / 100);
}

// ---------------------------------------------------------------------------------------------
// Order drafting (shared by the seed and the change stream)
// ---------------------------------------------------------------------------------------------

interface StoreRef {
  id: number;
  channel: Channel;
}

interface ProductRef {
  id: number;
  priceCents: number;
}

interface Catalog {
  stores: StoreRef[];
  products: ProductRef[];
}

interface Line {
  productId: number;
  quantity: number;
  unitCents: number;
  discountCents: number;
  totalCents: number;
}

interface Totals {
  subtotal: number;
  discount: number;
  tax: number;
  shipping: number;
  total: number;
}

interface PaymentDraft {
  method: 'card' | 'paypal' | 'gift_card';
  cardBrand: string | null;
  cardLast4: string | null;
  cardToken: string | null;
}

function orderNumber(orderId: number): string {
  // padStart never truncates (SQL lpad would), so numbers stay unique past 99,999,999.
  return `SO-${String(orderId).padStart(8, '0')}`;
}

// Online stores get more traffic per "store" than a single physical shop.
function pickStore(rng: Rng, stores: readonly StoreRef[]): StoreRef {
  return rng.weighted(stores.map((store) => [store, store.channel === 'online' ? 3 : 1] as const));
}

function draftLines(rng: Rng, products: readonly ProductRef[]): Line[] {
  const wanted = Math.min(
    products.length,
    rng.weighted([
      [1, 35],
      [2, 30],
      [3, 20],
      [4, 15],
    ] as const),
  );
  const chosen = new Set<ProductRef>();
  while (chosen.size < wanted) chosen.add(rng.pick(products));
  return Array.from(chosen, (product) => draftLine(rng, product));
}

function draftLine(rng: Rng, product: ProductRef): Line {
  const quantity = rng.weighted([
    [1, 60],
    [2, 25],
    [3, 10],
    [4, 3],
    [6, 2],
  ] as const);
  const gross = quantity * product.priceCents;
  const discountCents = rng.chance(0.25) ? percentOf(gross, rng.pick([5, 10, 15])) : 0;
  return {
    productId: product.id,
    quantity,
    unitCents: product.priceCents,
    discountCents,
    totalCents: gross - discountCents,
  };
}

function computeTotals(lines: readonly Line[], channel: Channel): Totals {
  const subtotal = lines.reduce((sum, line) => sum + line.quantity * line.unitCents, 0);
  const discount = lines.reduce((sum, line) => sum + line.discountCents, 0);
  const net = subtotal - discount;
  const tax = percentOf(net, TAX_PERCENT);
  const shipping = channel === 'online' && net < FREE_SHIPPING_CENTS ? SHIPPING_CENTS : 0;
  return { subtotal, discount, tax, shipping, total: net + tax + shipping };
}

function draftPayment(rng: Rng): PaymentDraft {
  const method = rng.weighted([
    ['card', 85],
    ['paypal', 10],
    ['gift_card', 5],
  ] as const);
  if (method !== 'card') return { method, cardBrand: null, cardLast4: null, cardToken: null };
  return {
    method,
    cardBrand: rng.weighted([
      ['Visa', 55],
      ['Mastercard', 30],
      ['Amex', 15],
    ] as const),
    cardLast4: rng.digits(4),
    cardToken: `tok_${rng.hex(24)}`,
  };
}

function draftShipment(rng: Rng): { carrier: string; trackingNumber: string } {
  const carrier = rng.pick(CARRIERS);
  const trackingNumber =
    carrier === 'UPS'
      ? `1Z${rng.hex(16).toUpperCase()}`
      : carrier === 'FedEx'
        ? rng.digits(12)
        : carrier === 'USPS'
          ? `94${rng.digits(20)}`
          : rng.digits(10);
  return { carrier, trackingNumber };
}

function draftRefundCents(rng: Rng, totalCents: number): number {
  if (rng.chance(0.5)) return totalCents;
  return Math.max(1, Math.floor((totalCents * rng.int(10, 90)) / 100));
}

interface CustomerDraft {
  email: string;
  phone: string | null;
  fullName: string;
  address: string | null;
  city: string | null;
}

function draftCustomer(rng: Rng, customerId: number): CustomerDraft {
  const first = rng.pick(FIRST_NAMES);
  const last = rng.pick(LAST_NAMES);
  const [city, areaCode] = rng.pick(CITIES);
  const hasAddress = rng.chance(0.95);
  const localPart = `${first}.${last}`.toLowerCase().replace(/[^a-z.]/g, '');
  return {
    // The id suffix keeps generated emails unique, so dedup logic downstream is not fooled by us.
    email: `${localPart}${customerId}@example.com`,
    phone: rng.chance(0.9) ? `+1-${areaCode}-555-${rng.digits(4)}` : null,
    fullName: `${first} ${last}`,
    address: hasAddress ? `${rng.int(1, 9999)} ${rng.pick(STREETS)} ${rng.pick(STREET_TYPES)}` : null,
    city: hasAddress ? city : null,
  };
}

// ---------------------------------------------------------------------------------------------
// Small database helpers
// ---------------------------------------------------------------------------------------------

async function withClient<T>(pool: Pool, work: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    const result = await work(client);
    client.release();
    return result;
  } catch (err) {
    // The connection may be mid-transaction or broken; never hand it back to the pool.
    client.release(true);
    throw err;
  }
}

async function withTransaction<T>(client: PoolClient, work: () => Promise<T>): Promise<T> {
  await client.query('BEGIN');
  try {
    const result = await work();
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

// Database clock, not the host's: ordered_at must never be ahead of the server's now().
async function databaseNowMs(client: PoolClient): Promise<number> {
  const { rows } = await client.query<{ now: Date }>('SELECT now() AS now');
  return rows[0]!.now.getTime();
}

async function nextId(client: PoolClient, table: string, column: string): Promise<number> {
  const { rows } = await client.query<{ id: string }>('SELECT nextval(pg_get_serial_sequence($1, $2)) AS id', [
    table,
    column,
  ]);
  return Number(rows[0]!.id);
}

/**
 * Reserves `count` ids by moving the identity sequence past them first, so rows inserted
 * concurrently with default ids can never collide with our explicit ones. Returns the id before
 * the block. Also skips past explicit ids that others inserted without touching the sequence.
 */
async function reserveIds(client: PoolClient, table: string, column: string, count: number): Promise<number> {
  const { rows } = await client.query<{ base: string }>(
    `WITH s AS (SELECT pg_get_serial_sequence($1, $2) AS seq),
          b AS (SELECT GREATEST((SELECT coalesce(max(${column}), 0) FROM ${table}),
                                coalesce(pg_sequence_last_value(s.seq::regclass), 0)) AS base FROM s)
     SELECT b.base, CASE WHEN $3::bigint > 0 THEN setval(s.seq, b.base + $3::bigint) END AS reserved FROM b, s`,
    [table, column, count],
  );
  return Number(rows[0]!.base);
}

// Gives back the unused tail of a reservation, but only if nobody drew from the sequence since.
async function trimReservation(
  client: PoolClient,
  table: string,
  column: string,
  reservedEnd: number,
  usedEnd: number,
): Promise<void> {
  if (reservedEnd === usedEnd) return;
  await client.query(
    `SELECT setval(seq::regclass, GREATEST($3::bigint, 1), $3::bigint >= 1)
       FROM (SELECT pg_get_serial_sequence($1, $2) AS seq) s
      WHERE pg_sequence_last_value(seq::regclass) = $4::bigint`,
    [table, column, usedEnd, reservedEnd],
  );
}

function placeholders(rowCount: number, columnCount: number): string {
  const rows: string[] = [];
  for (let r = 0; r < rowCount; r++) {
    const cells: string[] = [];
    for (let c = 1; c <= columnCount; c++) cells.push(`$${r * columnCount + c}`);
    rows.push(`(${cells.join(', ')})`);
  }
  return rows.join(', ');
}

type Cell = string | number | boolean | null;

function copyCell(value: Cell): string {
  if (value === null) return '\\N';
  const text = String(value);
  return /[\\\t\n\r]/.test(text) ? text.replace(/[\\\t\n\r]/g, (ch) => COPY_ESCAPES[ch] ?? ch) : text;
}
const COPY_ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };

function copyLine(cells: readonly Cell[]): string {
  return `${cells.map(copyCell).join('\t')}\n`;
}

function* joinBatches(lines: readonly string[]): Generator<string> {
  for (let i = 0; i < lines.length; i += COPY_BATCH_ROWS) yield lines.slice(i, i + COPY_BATCH_ROWS).join('');
}

async function copyInto(
  client: PoolClient,
  table: string,
  columns: readonly string[],
  lines: readonly string[],
): Promise<void> {
  if (lines.length === 0) return;
  const sink = client.query(copyFrom(`COPY ${table} (${columns.join(', ')}) FROM STDIN`));
  await pipeline(Readable.from(joinBatches(lines)), sink);
}

async function loadCatalog(client: PoolClient): Promise<Catalog> {
  const stores = await client.query<{ store_id: number; channel: Channel }>(
    'SELECT store_id, channel FROM shop.stores ORDER BY store_id',
  );
  const products = await client.query<{ product_id: number; unit_price: string }>(
    'SELECT product_id, unit_price FROM shop.products WHERE active ORDER BY product_id',
  );
  if (stores.rows.length === 0 || products.rows.length === 0) {
    throw new Error('shop.stores / shop.products are empty: run seedDemoData before generateChanges');
  }
  return {
    stores: stores.rows.map((row) => ({ id: row.store_id, channel: row.channel })),
    // Prices come from the table, not from our constants, so rows seeded earlier with other prices still match.
    products: products.rows.map((row) => ({ id: row.product_id, priceCents: parseCents(row.unit_price) })),
  };
}

// ---------------------------------------------------------------------------------------------
// Seeding
// ---------------------------------------------------------------------------------------------

function validateSeedOptions(opts: SeedOptions): void {
  assertCount('customers', opts.customers);
  assertCount('orders', opts.orders);
  if (opts.days !== undefined && !(Number.isFinite(opts.days) && opts.days > 0)) {
    throw new RangeError(`days must be a positive number, got ${opts.days}`);
  }
}

function assertCount(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0)
    throw new RangeError(`${name} must be a non-negative integer, got ${value}`);
}

async function insertStores(client: PoolClient): Promise<number> {
  const values = STORES.flatMap((s) => [s.id, s.code, s.name, s.region, s.channel, s.openedOn]);
  const result = await client.query(
    `INSERT INTO shop.stores (store_id, store_code, name, region, channel, opened_on)
     VALUES ${placeholders(STORES.length, 6)} ON CONFLICT DO NOTHING`,
    values,
  );
  return result.rowCount ?? 0;
}

async function insertProducts(client: PoolClient): Promise<number> {
  const rng = new Rng(CATALOG_SEED);
  const values: Cell[] = [];
  for (let id = 1; id <= PRODUCT_COUNT; id++) {
    const category = CATEGORIES[(id - 1) % CATEGORIES.length]!;
    // Shelf prices end in .99 like real ones.
    const priceCents = Math.floor(rng.int(category.minCents, category.maxCents) / 100) * 100 + 99;
    const name = `${rng.pick(PRODUCT_STYLES)} ${rng.pick(category.items)}`;
    values.push(id, `SKU-${String(id).padStart(5, '0')}`, name, category.name, money(priceCents), !rng.chance(0.04));
  }
  const result = await client.query(
    `INSERT INTO shop.products (product_id, sku, name, category, unit_price, active)
     VALUES ${placeholders(PRODUCT_COUNT, 6)} ON CONFLICT DO NOTHING`,
    values,
  );
  return result.rowCount ?? 0;
}

interface SeededCustomers {
  firstId: number;
  count: number;
}

async function seedCustomers(
  client: PoolClient,
  rng: Rng,
  count: number,
  nowMs: number,
  days: number,
): Promise<SeededCustomers> {
  const base = await reserveIds(client, 'shop.customers', 'customer_id', count);
  const columns = ['customer_id', 'email', 'phone', 'full_name', 'address', 'city', 'country', 'created_at'];
  for (let start = 0; start < count; start += CHUNK_ROWS) {
    const lines: string[] = [];
    for (let id = base + start + 1; id <= base + Math.min(count, start + CHUNK_ROWS); id++) {
      const c = draftCustomer(rng, id);
      // Sign-ups predate the order history window so no customer orders before existing.
      const createdAt = nowMs - days * DAY - rng.int(0, 365 * DAY);
      lines.push(
        copyLine([id, c.email, c.phone, c.fullName, c.address, c.city, 'US', new Date(createdAt).toISOString()]),
      );
    }
    await copyInto(client, 'shop.customers', columns, lines);
  }
  return { firstId: base + 1, count };
}

async function customerPicker(client: PoolClient, rng: Rng, seeded: SeededCustomers): Promise<() => number> {
  // Power-law-ish skew: a minority of loyal customers places many of the orders, as in real shops.
  const skewed = (n: number): number => Math.floor(n * rng.next() ** 1.6);
  if (seeded.count > 0) return () => seeded.firstId + skewed(seeded.count);
  const { rows } = await client.query<{ customer_id: string }>(
    'SELECT customer_id FROM shop.customers ORDER BY customer_id',
  );
  const ids = rows.map((row) => Number(row.customer_id));
  return () => {
    if (ids.length === 0) throw new Error('no customers to attach orders to: pass customers > 0');
    return ids[skewed(ids.length)]!;
  };
}

interface Lifecycle {
  status: OrderStatus;
  paidAt: number;
  shipment: { shippedAt: number; deliveredAt: number | null; status: ShipmentStatus } | null;
  refundedAt: number | null;
}

// Status follows from the order's age: fulfilment takes hours to ship and days to deliver, so
// old orders are delivered and only the last day or so is still placed/paid/shipped.
function planLifecycle(rng: Rng, orderedAt: number, nowMs: number): Lifecycle {
  const roll = rng.next();
  const paidAt = Math.min(nowMs, orderedAt + rng.int(5_000, 10 * MINUTE));
  if (roll < 0.03) return { status: 'cancelled', paidAt, shipment: null, refundedAt: null };
  const shippedAt = orderedAt + rng.int(2 * HOUR, 30 * HOUR);
  const deliveredAt = shippedAt + rng.int(DAY, 4 * DAY);
  if (shippedAt > nowMs)
    return { status: rng.chance(0.3) ? 'placed' : 'paid', paidAt, shipment: null, refundedAt: null };
  if (deliveredAt > nowMs) {
    return {
      status: 'shipped',
      paidAt,
      shipment: { shippedAt, deliveredAt: null, status: 'in_transit' },
      refundedAt: null,
    };
  }
  const shipment = { shippedAt, deliveredAt, status: 'delivered' as const };
  if (roll >= 0.053) return { status: 'delivered', paidAt, shipment, refundedAt: null };
  const refundedAt = Math.min(
    deliveredAt + rng.int(HOUR, 5 * DAY),
    deliveredAt + Math.floor((nowMs - deliveredAt) * rng.next()),
  );
  return { status: 'refunded', paidAt, shipment, refundedAt };
}

interface OrderBatch {
  orders: string[];
  items: string[];
  payments: string[];
  shipments: string[];
  refunds: string[];
}

interface IdCursor {
  order: number;
  item: number;
  payment: number;
  shipment: number;
  refund: number;
}

const ORDER_COLUMNS = [
  'order_id',
  'order_number',
  'customer_id',
  'store_id',
  'channel',
  'status',
  'ordered_at',
  'order_date',
  'currency',
  'subtotal',
  'discount',
  'tax',
  'shipping',
  'total',
  'created_at',
];
const ITEM_COLUMNS = [
  'order_item_id',
  'order_id',
  'line_number',
  'product_id',
  'quantity',
  'unit_price',
  'discount',
  'line_total',
];
const PAYMENT_COLUMNS = [
  'payment_id',
  'order_id',
  'method',
  'card_brand',
  'card_last4',
  'card_token',
  'amount',
  'currency',
  'status',
  'paid_at',
];
const SHIPMENT_COLUMNS = [
  'shipment_id',
  'order_id',
  'carrier',
  'tracking_number',
  'status',
  'shipped_at',
  'delivered_at',
];
const REFUND_COLUMNS = ['refund_id', 'order_id', 'payment_id', 'amount', 'reason', 'refunded_at'];

function appendSeedOrder(
  rng: Rng,
  catalog: Catalog,
  pickCustomer: () => number,
  orderedAt: number,
  nowMs: number,
  ids: IdCursor,
  batch: OrderBatch,
): void {
  const orderId = ++ids.order;
  const store = pickStore(rng, catalog.stores);
  const lines = draftLines(rng, catalog.products);
  const totals = computeTotals(lines, store.channel);
  const life = planLifecycle(rng, orderedAt, nowMs);
  const iso = (ms: number): string => new Date(ms).toISOString();
  batch.orders.push(
    copyLine([
      orderId,
      orderNumber(orderId),
      pickCustomer(),
      store.id,
      store.channel,
      life.status,
      iso(orderedAt),
      iso(orderedAt).slice(0, 10),
      'USD',
      money(totals.subtotal),
      money(totals.discount),
      money(totals.tax),
      money(totals.shipping),
      money(totals.total),
      iso(orderedAt),
    ]),
  );
  lines.forEach((line, index) => {
    batch.items.push(
      copyLine([
        ++ids.item,
        orderId,
        index + 1,
        line.productId,
        line.quantity,
        money(line.unitCents),
        money(line.discountCents),
        money(line.totalCents),
      ]),
    );
  });
  const pay = draftPayment(rng);
  const paymentId = ++ids.payment;
  const paymentStatus = life.status === 'cancelled' ? 'voided' : 'captured';
  batch.payments.push(
    copyLine([
      paymentId,
      orderId,
      pay.method,
      pay.cardBrand,
      pay.cardLast4,
      pay.cardToken,
      money(totals.total),
      'USD',
      paymentStatus,
      iso(life.paidAt),
    ]),
  );
  if (life.shipment) {
    const { carrier, trackingNumber } = draftShipment(rng);
    const s = life.shipment;
    batch.shipments.push(
      copyLine([
        ++ids.shipment,
        orderId,
        carrier,
        trackingNumber,
        s.status,
        iso(s.shippedAt),
        s.deliveredAt === null ? null : iso(s.deliveredAt),
      ]),
    );
  }
  if (life.refundedAt !== null) {
    const amount = draftRefundCents(rng, totals.total);
    batch.refunds.push(
      copyLine([++ids.refund, orderId, paymentId, money(amount), rng.pick(REFUND_REASONS), iso(life.refundedAt)]),
    );
  }
}

async function flushBatch(client: PoolClient, batch: OrderBatch): Promise<void> {
  // Parents before children so the FK checks at the end of each COPY find their rows.
  await copyInto(client, 'shop.orders', ORDER_COLUMNS, batch.orders);
  await copyInto(client, 'shop.order_items', ITEM_COLUMNS, batch.items);
  await copyInto(client, 'shop.payments', PAYMENT_COLUMNS, batch.payments);
  await copyInto(client, 'shop.shipments', SHIPMENT_COLUMNS, batch.shipments);
  await copyInto(client, 'shop.refunds', REFUND_COLUMNS, batch.refunds);
}

type OrderCounts = Pick<SeedSummary, 'orders' | 'orderItems' | 'payments' | 'shipments' | 'refunds'>;

async function seedOrders(
  client: PoolClient,
  rng: Rng,
  catalog: Catalog,
  pickCustomer: () => number,
  count: number,
  nowMs: number,
  days: number,
): Promise<OrderCounts> {
  // Upper bounds (≤4 lines, ≤1 shipment/refund per order); the unused tail is trimmed below.
  const plan: readonly (readonly [keyof IdCursor, string, string, number])[] = [
    ['order', 'shop.orders', 'order_id', count],
    ['item', 'shop.order_items', 'order_item_id', count * 4],
    ['payment', 'shop.payments', 'payment_id', count],
    ['shipment', 'shop.shipments', 'shipment_id', count],
    ['refund', 'shop.refunds', 'refund_id', count],
  ];
  const bases = {} as IdCursor;
  for (const [key, table, column, n] of plan) bases[key] = await reserveIds(client, table, column, n);
  const ids: IdCursor = { ...bases };
  const spanMs = days * DAY;
  for (let start = 0; start < count; start += CHUNK_ROWS) {
    const batch: OrderBatch = { orders: [], items: [], payments: [], shipments: [], refunds: [] };
    for (let i = start; i < Math.min(count, start + CHUNK_ROWS); i++) {
      // Stratified jitter: uniform over the window yet increasing with order_id, like a real sequence.
      const orderedAt = nowMs - spanMs + Math.floor(((i + rng.next()) * spanMs) / count);
      appendSeedOrder(rng, catalog, pickCustomer, orderedAt, nowMs, ids, batch);
    }
    await flushBatch(client, batch);
  }
  for (const [key, table, column, n] of plan) await trimReservation(client, table, column, bases[key] + n, ids[key]);
  return {
    orders: ids.order - bases.order,
    orderItems: ids.item - bases.item,
    payments: ids.payment - bases.payment,
    shipments: ids.shipment - bases.shipment,
    refunds: ids.refund - bases.refund,
  };
}

// ---------------------------------------------------------------------------------------------
// Change stream
// ---------------------------------------------------------------------------------------------

function validateChangeOptions(opts: ChangeOptions): void {
  for (const key of ['newOrders', 'updates', 'lateCorrections', 'cancellations', 'refunds'] as const)
    assertCount(key, opts[key]);
}

async function repeat(times: number, work: () => Promise<boolean>): Promise<number> {
  let done = 0;
  for (let i = 0; i < times; i++) if (await work()) done++;
  return done;
}

async function applyEach(ids: readonly number[], work: (id: number) => Promise<boolean>): Promise<number> {
  let done = 0;
  for (const id of ids) if (await work(id)) done++;
  return done;
}

interface CustomerRange {
  min: number;
  max: number;
}

async function customerRange(client: PoolClient): Promise<CustomerRange | null> {
  const { rows } = await client.query<{ min: string | null; max: string | null }>(
    'SELECT min(customer_id) AS min, max(customer_id) AS max FROM shop.customers',
  );
  const row = rows[0]!;
  return row.min === null || row.max === null ? null : { min: Number(row.min), max: Number(row.max) };
}

async function chooseCustomer(client: PoolClient, rng: Rng, range: CustomerRange | null): Promise<number> {
  if (range !== null && rng.chance(0.9)) {
    // Probe with >= so gaps in customer_id never yield a dangling reference.
    const { rows } = await client.query<{ customer_id: string }>(
      'SELECT customer_id FROM shop.customers WHERE customer_id >= $1 ORDER BY customer_id LIMIT 1',
      [rng.int(range.min, range.max)],
    );
    if (rows[0]) return Number(rows[0].customer_id);
  }
  // New sign-ups keep customer inserts flowing through the incremental extraction too.
  const id = await nextId(client, 'shop.customers', 'customer_id');
  const c = draftCustomer(rng, id);
  await client.query(
    'INSERT INTO shop.customers (customer_id, email, phone, full_name, address, city) VALUES ($1, $2, $3, $4, $5, $6)',
    [id, c.email, c.phone, c.fullName, c.address, c.city],
  );
  return id;
}

async function insertNewOrder(
  client: PoolClient,
  rng: Rng,
  catalog: Catalog,
  customers: CustomerRange | null,
): Promise<boolean> {
  await withTransaction(client, async () => {
    const customerId = await chooseCustomer(client, rng, customers);
    const store = pickStore(rng, catalog.stores);
    const lines = draftLines(rng, catalog.products);
    const totals = computeTotals(lines, store.channel);
    // Take the id first so order_number can be derived from it: unique without a constraint.
    const orderId = await nextId(client, 'shop.orders', 'order_id');
    await client.query(
      `INSERT INTO shop.orders (order_id, order_number, customer_id, store_id, channel, status, ordered_at, order_date,
                                subtotal, discount, tax, shipping, total)
       VALUES ($1, $2, $3, $4, $5, $6, now(), (now() AT TIME ZONE 'UTC')::date, $7, $8, $9, $10, $11)`,
      [
        orderId,
        orderNumber(orderId),
        customerId,
        store.id,
        store.channel,
        rng.chance(0.5) ? 'placed' : 'paid',
        money(totals.subtotal),
        money(totals.discount),
        money(totals.tax),
        money(totals.shipping),
        money(totals.total),
      ],
    );
    await client.query(
      `INSERT INTO shop.order_items (order_id, line_number, product_id, quantity, unit_price, discount, line_total)
       VALUES ${placeholders(lines.length, 7)}`,
      lines.flatMap((l, i) => [
        orderId,
        i + 1,
        l.productId,
        l.quantity,
        money(l.unitCents),
        money(l.discountCents),
        money(l.totalCents),
      ]),
    );
    const pay = draftPayment(rng);
    await client.query(
      `INSERT INTO shop.payments (order_id, method, card_brand, card_last4, card_token, amount, status, paid_at)
       VALUES ($1, $2, $3, $4, $5, $6, 'captured', now())`,
      [orderId, pay.method, pay.cardBrand, pay.cardLast4, pay.cardToken, money(totals.total)],
    );
  });
  return true;
}

// Sampling is bounded to the newest order ids: with millions of rows a full ORDER BY random()
// would dominate the tick, and in-flight orders are recent anyway.
async function sampleRecent(client: PoolClient, limit: number, condition: string): Promise<number[]> {
  if (limit === 0) return [];
  const { rows } = await client.query<{ order_id: string }>(
    `SELECT o.order_id FROM shop.orders o
      WHERE o.order_id > (SELECT coalesce(max(order_id), 0) FROM shop.orders) - ${RECENT_ORDER_WINDOW}
        AND ${condition}
      ORDER BY random() LIMIT $1`,
    [limit],
  );
  return rows.map((row) => Number(row.order_id));
}

async function sampleAdvanceable(client: PoolClient, limit: number): Promise<number[]> {
  return sampleRecent(client, limit, "o.status IN ('placed', 'paid', 'shipped')");
}

async function sampleCancellable(client: PoolClient, limit: number): Promise<number[]> {
  return sampleRecent(client, limit, "o.status IN ('placed', 'paid')");
}

async function sampleRefundable(client: PoolClient, limit: number): Promise<number[]> {
  return sampleRecent(
    client,
    limit,
    "o.status IN ('shipped', 'delivered') AND NOT EXISTS (SELECT 1 FROM shop.refunds r WHERE r.order_id = o.order_id)",
  );
}

// Late corrections target 1–7-day-old orders; the order_date predicate lets the planner use its index.
const CORRECTABLE = `o.order_date BETWEEN (now() AT TIME ZONE 'UTC')::date - 7 AND (now() AT TIME ZONE 'UTC')::date - 1
  AND o.ordered_at BETWEEN now() - interval '7 days' AND now() - interval '1 day'
  AND o.status NOT IN ('cancelled', 'refunded')`;

async function sampleCorrectable(client: PoolClient, limit: number): Promise<number[]> {
  if (limit === 0) return [];
  const { rows } = await client.query<{ order_id: string }>(
    `SELECT o.order_id FROM shop.orders o WHERE ${CORRECTABLE} ORDER BY random() LIMIT $1`,
    [limit],
  );
  return rows.map((row) => Number(row.order_id));
}

const NEXT_STATUS: Partial<Record<OrderStatus, OrderStatus>> = {
  placed: 'paid',
  paid: 'shipped',
  shipped: 'delivered',
};

// Each mutation re-reads its order FOR UPDATE with the eligibility condition, so a concurrent tick
// that already moved the order makes this one a no-op instead of breaking an invariant.
async function lockOrder<T extends QueryResultRow = QueryResultRow>(
  client: PoolClient,
  orderId: number,
  columns: string,
  condition: string,
): Promise<T | undefined> {
  const { rows } = await client.query<T>(
    `SELECT ${columns} FROM shop.orders o WHERE o.order_id = $1 AND ${condition} FOR UPDATE`,
    [orderId],
  );
  return rows[0];
}

async function advanceOrder(client: PoolClient, rng: Rng, orderId: number): Promise<boolean> {
  return withTransaction(client, async () => {
    const row = await lockOrder<{ status: OrderStatus }>(
      client,
      orderId,
      'o.status',
      "o.status IN ('placed', 'paid', 'shipped')",
    );
    const next = row && NEXT_STATUS[row.status];
    if (!next) return false;
    await client.query('UPDATE shop.orders SET status = $2 WHERE order_id = $1', [orderId, next]);
    if (next === 'shipped') await insertShipment(client, rng, orderId, 'in_transit');
    if (next === 'delivered') await markDelivered(client, rng, orderId);
    return true;
  });
}

async function insertShipment(client: PoolClient, rng: Rng, orderId: number, status: ShipmentStatus): Promise<void> {
  const { carrier, trackingNumber } = draftShipment(rng);
  await client.query(
    `INSERT INTO shop.shipments (order_id, carrier, tracking_number, status, shipped_at, delivered_at)
     VALUES ($1, $2, $3, $4, now(), CASE WHEN $4 = 'delivered' THEN now() END)`,
    [orderId, carrier, trackingNumber, status],
  );
}

async function markDelivered(client: PoolClient, rng: Rng, orderId: number): Promise<void> {
  const result = await client.query(
    "UPDATE shop.shipments SET status = 'delivered', delivered_at = now() WHERE order_id = $1 AND status <> 'delivered'",
    [orderId],
  );
  // An order marked shipped by someone else without a shipment still ends up with one.
  if (result.rowCount === 0) {
    const existing = await client.query('SELECT 1 FROM shop.shipments WHERE order_id = $1', [orderId]);
    if (existing.rowCount === 0) await insertShipment(client, rng, orderId, 'delivered');
  }
}

async function correctOrder(client: PoolClient, rng: Rng, orderId: number): Promise<boolean> {
  return withTransaction(client, async () => {
    const row = await lockOrder<{
      channel: Channel;
      subtotal: string;
      discount: string;
      tax: string;
      shipping: string;
    }>(client, orderId, 'o.channel, o.subtotal, o.discount, o.tax, o.shipping', CORRECTABLE);
    if (!row) return false;
    let tax = parseCents(row.tax);
    let shipping = parseCents(row.shipping);
    // In-store orders carry no shipping fee, so only their tax gets re-rated.
    if (row.channel === 'store' || rng.chance(0.5)) tax = nudge(rng, tax, 1, 150);
    else shipping = nudge(rng, shipping, 100, 500);
    const total = parseCents(row.subtotal) - parseCents(row.discount) + tax + shipping;
    await client.query('UPDATE shop.orders SET tax = $2, shipping = $3, total = $4 WHERE order_id = $1', [
      orderId,
      money(tax),
      money(shipping),
      money(total),
    ]);
    // Same transaction: an extractor must never see the new total next to the old payment amount.
    await client.query('UPDATE shop.payments SET amount = $2 WHERE order_id = $1', [orderId, money(total)]);
    return true;
  });
}

// Moves an amount up or down by a random step without going negative (a zero fee can only rise).
function nudge(rng: Rng, cents: number, minStep: number, maxStep: number): number {
  const step = rng.int(minStep, maxStep);
  return cents - step >= 0 && rng.chance(0.5) ? cents - step : cents + step;
}

async function cancelOrder(client: PoolClient, orderId: number): Promise<boolean> {
  return withTransaction(client, async () => {
    if (!(await lockOrder(client, orderId, 'o.order_id', "o.status IN ('placed', 'paid')"))) return false;
    await client.query("UPDATE shop.orders SET status = 'cancelled' WHERE order_id = $1", [orderId]);
    await client.query("UPDATE shop.payments SET status = 'voided' WHERE order_id = $1", [orderId]);
    return true;
  });
}

async function refundOrder(client: PoolClient, rng: Rng, orderId: number): Promise<boolean> {
  return withTransaction(client, async () => {
    const row = await lockOrder<{ total: string }>(
      client,
      orderId,
      'o.total',
      "o.status IN ('shipped', 'delivered') AND NOT EXISTS (SELECT 1 FROM shop.refunds r WHERE r.order_id = o.order_id)",
    );
    if (!row) return false;
    const payment = await client.query<{ payment_id: string }>(
      "SELECT payment_id FROM shop.payments WHERE order_id = $1 AND status = 'captured' ORDER BY payment_id LIMIT 1",
      [orderId],
    );
    const amount = draftRefundCents(rng, parseCents(row.total));
    await client.query(
      'INSERT INTO shop.refunds (order_id, payment_id, amount, reason, refunded_at) VALUES ($1, $2, $3, $4, now())',
      [orderId, payment.rows[0]?.payment_id ?? null, money(amount), rng.pick(REFUND_REASONS)],
    );
    await client.query("UPDATE shop.orders SET status = 'refunded' WHERE order_id = $1", [orderId]);
    return true;
  });
}
