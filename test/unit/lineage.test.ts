import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readModels } from '../../activities/warehouse/models/catalog';
import { derivedPiiColumns, modelLineage, type ModelLineage } from '../../activities/warehouse/models/lineage';
import { loadConfig } from '../../config/load';
import { piiColumnsOf } from '../../config/pii';

/** Writes models into a fresh models dir: `{ 'marts/fct_x': sql }`. */
function modelsDir(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'freshline-lineage-'));
  for (const layer of ['staging', 'intermediate', 'marts']) mkdirSync(join(dir, layer));
  for (const [name, sql] of Object.entries(files)) writeFileSync(join(dir, `${name}.sql`), `-- grain: test\n${sql}`);
  return dir;
}

const kinds = (l: Map<string, ModelLineage>, model: string) =>
  Object.fromEntries(l.get(model)!.columns.map((c) => [c.name, c.pii]));

const shopPii = (source: string, table: string) =>
  source === 'shop' && table === 'customers' ? ['email', 'phone', 'full_name'] : [];

test('the shipped marts carry PII only as the tokens themselves, traced to their source columns', async () => {
  const config = loadConfig();
  const lineage = await modelLineage(
    readModels(),
    config.datasets.flatMap((d) => d.publish),
    piiColumnsOf(config),
  );
  const dim = lineage.get('dim_customer')!.columns.filter((c) => c.pii !== 'none');
  expect(dim).toEqual([
    { name: 'email_token', pii: 'token', from: ['shop.customers.email'] },
    { name: 'phone_token', pii: 'token', from: ['shop.customers.phone'] },
    { name: 'name_token', pii: 'token', from: ['shop.customers.full_name'] },
  ]);
  // No mart holds anything computed from PII; the intermediate state hash does, and stays in shadow.
  expect(Object.values(derivedPiiColumns(lineage)).flat()).toEqual([]);
  expect(kinds(lineage, 'int_customer_versions')).toMatchObject({ email_token: 'token', city: 'none' });
});

test('a column computed from a token is PII whatever it is called; counts, keys and filters are not', async () => {
  const dir = modelsDir({
    'staging/stg_customers': `
      select customer_id, email as contact, phone, full_name, city
      from {{ latest('shop', 'customers', 'customer_id') }}`,
    'intermediate/int_contacts': `
      with c as (select * exclude (phone) from {{ ref('stg_customers') }})
      select customer_id, contact as email_token, lower(contact) as email_lower,
             case when contact like '%@gmail.com' then 'gmail' else 'other' end as mailbox,
             city
      from c
      where full_name is not null`,
    'marts/dim_contact': `
      select i.customer_id, i.email_token, i.email_lower as search_key, i.mailbox, s.city,
             left(s.full_name, 1) || '.' as initial, (select max(phone) from {{ ref('stg_customers') }}) as any_phone,
             {{ surrogate_key('i.customer_id') }} as contact_sk
      from {{ ref('int_contacts') }} as i join {{ ref('stg_customers') }} as s using (customer_id)`,
    'marts/agg_contacts': `
      select city, count(distinct email_token) as customers, count(*) as rows_seen
      from {{ ref('int_contacts') }} group by city`,
  });
  const lineage = await modelLineage(readModels(dir), ['dim_contact', 'agg_contacts'], shopPii);
  expect(kinds(lineage, 'stg_customers')).toEqual({
    customer_id: 'none',
    contact: 'token',
    phone: 'token',
    full_name: 'token',
    city: 'none',
  });
  expect(kinds(lineage, 'dim_contact')).toEqual({
    customer_id: 'none',
    email_token: 'token',
    search_key: 'derived',
    mailbox: 'derived',
    city: 'none',
    initial: 'derived',
    any_phone: 'derived',
    contact_sk: 'none',
  });
  expect(lineage.get('dim_contact')!.columns.find((c) => c.name === 'initial')!.from).toEqual([
    'shop.customers.full_name',
  ]);
  expect(kinds(lineage, 'agg_contacts')).toEqual({ city: 'none', customers: 'none', rows_seen: 'none' });
  expect(derivedPiiColumns(lineage)).toMatchObject({
    dim_contact: ['search_key', 'mailbox', 'initial', 'any_phone'],
    agg_contacts: [],
  });
});

test('a union keeps a token a token and a derived column derived; a * over raw keeps the configured tokens', async () => {
  const dir = modelsDir({
    'staging/stg_people': `
      select customer_id, email as who from {{ source('shop', 'customers') }}
      union all
      select customer_id, upper(email) from {{ source('shop', 'customers') }}`,
    'marts/fct_raw_copy': `select * from {{ source('shop', 'customers') }}`,
  });
  const lineage = await modelLineage(readModels(dir), ['stg_people', 'fct_raw_copy'], shopPii);
  expect(kinds(lineage, 'stg_people')).toEqual({ customer_id: 'none', who: 'derived' });
  expect(kinds(lineage, 'fct_raw_copy')).toEqual({ email: 'token', phone: 'token', full_name: 'token' });
});

test('what lineage cannot follow fails, naming the model, instead of letting a column through', async () => {
  const unaliased = modelsDir({
    'marts/fct_x': `select customer_id, lower(email) from {{ source('shop', 'customers') }}`,
  });
  await expect(modelLineage(readModels(unaliased), ['fct_x'], shopPii)).rejects.toThrow(
    'model marts/fct_x.sql: an expression computed from PII (shop.customers.email) needs an alias',
  );
  const unknown = modelsDir({ 'marts/fct_y': `select a from secrets.keys` });
  await expect(modelLineage(readModels(unknown), ['fct_y'], shopPii)).rejects.toThrow(
    'model marts/fct_y.sql: reads secrets.keys, which is neither a ref, a source nor a CTE',
  );
  const unresolved = modelsDir({
    'marts/fct_z': `select c.nope from {{ ref('fct_w') }} as w, (select 1 as a) as c`,
    'marts/fct_w': `select 1 as a`,
  });
  await expect(modelLineage(readModels(unresolved), ['fct_z'], shopPii)).rejects.toThrow(
    'model marts/fct_z.sql: cannot resolve column c.nope for PII lineage',
  );
});
