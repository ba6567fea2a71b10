import { compareSchemas, holdUnlistedColumns, isWidening } from '../../activities/sources/postgres/drift';
import type { StagedColumn } from '../../activities/sources/postgres/manifest';

const col = (name: string, sourceType: string): StagedColumn => ({ name, sourceType, type: 'X' });
const base = [
  col('order_id', 'bigint'),
  col('status', 'text'),
  col('total', 'numeric(12,2)'),
  col('note', 'character varying(20)'),
];

test('an unchanged schema is no drift', () => {
  expect(compareSchemas(base, [...base])).toBeNull();
});

test('an added column flows through (not breaking)', () => {
  expect(compareSchemas(base, [...base, col('gift_wrap', 'boolean')])).toMatchObject({
    added: ['gift_wrap'],
    breaking: false,
    summary: 'added gift_wrap boolean',
  });
});

test('dropped, renamed and narrowed columns are breaking and named', () => {
  expect(
    compareSchemas(
      base,
      base.filter((c) => c.name !== 'status'),
    ),
  ).toMatchObject({ dropped: ['status'], breaking: true, summary: 'dropped status' });
  expect(
    compareSchemas(
      base,
      base.map((c) => (c.name === 'status' ? col('order_status', 'text') : c)),
    ),
  ).toMatchObject({
    renamed: [{ from: 'status', to: 'order_status' }],
    breaking: true,
    summary: 'renamed status → order_status',
  });
  expect(
    compareSchemas(
      base,
      base.map((c) => (c.name === 'total' ? col('total', 'numeric(10,2)') : c)),
    ),
  ).toMatchObject({
    breaking: true,
    summary: 'retyped total numeric(12,2) → numeric(10,2)',
  });
  expect(
    compareSchemas(
      base,
      base.map((c) => (c.name === 'status' ? col('status', 'integer') : c)),
    )?.breaking,
  ).toBe(true);
});

test('widening a type is not breaking', () => {
  const widened = base.map((c) =>
    c.name === 'total' ? col('total', 'numeric(14,2)') : c.name === 'note' ? col('note', 'text') : c,
  );
  expect(compareSchemas(base, widened)).toMatchObject({
    breaking: false,
    summary: 'widened total numeric(12,2) → numeric(14,2), widened note character varying(20) → text',
  });
  expect(isWidening('integer', 'bigint')).toBe(true);
  expect(isWidening('bigint', 'integer')).toBe(false);
  expect(isWidening('numeric(12,2)', 'numeric(12,4)')).toBe(false); // fewer integer digits
  expect(isWidening('timestamp without time zone', 'timestamp with time zone')).toBe(false); // meaning changes
});

describe('new columns of a table declaring PII or PCI', () => {
  const customers = { schema: 'shop', name: 'customers', pii: ['email'], exclude: [], allowed: ['city'] };
  const before = [col('customer_id', 'bigint'), col('email', 'text')];

  test('an unlisted added column is held (breaking), named, with what to add to config', () => {
    const drift = holdUnlistedColumns(compareSchemas(before, [...before, col('secondary_email', 'text')]), customers);
    expect(drift).toMatchObject({ added: ['secondary_email'], held: ['secondary_email'], breaking: true });
    expect(drift?.summary).toBe(
      'added secondary_email text — held: shop.customers declares PII/PCI, so new column secondary_email loads ' +
        'only once listed in its pii (tokenized), exclude (never read) or allowed (not PII) config',
    );
  });

  test('a column listed as pii or allowed flows as an ordinary added column', () => {
    const live = [...before, col('secondary_email', 'text'), col('city', 'text')];
    const listed = { ...customers, pii: ['email', 'secondary_email'] };
    expect(holdUnlistedColumns(compareSchemas(before, live), listed)).toMatchObject({ breaking: false });
    expect(holdUnlistedColumns(compareSchemas(before, live), listed)?.held).toBeUndefined();
  });

  test('a table declaring only exclude (PCI) holds too; one declaring neither lets added columns flow', () => {
    const live = [...before, col('card_hint', 'text')];
    const pci = { ...customers, pii: [], exclude: ['card_token'], allowed: [] };
    expect(holdUnlistedColumns(compareSchemas(before, live), pci)?.held).toEqual(['card_hint']);
    const plain = { ...customers, pii: [], exclude: [], allowed: [] };
    expect(holdUnlistedColumns(compareSchemas(before, live), plain)).toMatchObject({ breaking: false });
  });
});
