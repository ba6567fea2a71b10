#!/usr/bin/env node
// CI guard: fails when `npm install` would rewrite package-lock.json (a dependency added to package.json
// without its lock entries, or a lock missing other platforms' optional packages, which `npm ci` rejects).
'use strict';

const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.resolve(__dirname, '..', '..');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'freshline-lock-'));
try {
  for (const f of ['package.json', 'package-lock.json']) fs.copyFileSync(path.join(root, f), path.join(dir, f));
  // --package-lock-only resolves the tree without installing it, in a copy, so the checkout is never touched.
  const r = spawnSync('npm', ['install', '--package-lock-only', '--ignore-scripts', '--no-audit', '--no-fund'], {
    cwd: dir,
    encoding: 'utf8',
  });
  if (r.status !== 0) {
    console.error(r.stderr);
    console.error(`lock check: npm install --package-lock-only failed (exit ${r.status})`);
    process.exit(1);
  }
  const before = fs.readFileSync(path.join(root, 'package-lock.json'), 'utf8');
  const after = fs.readFileSync(path.join(dir, 'package-lock.json'), 'utf8');
  if (before !== after) {
    const was = JSON.parse(before).packages ?? {};
    const now = JSON.parse(after).packages ?? {};
    const changed = Object.keys({ ...was, ...now }).filter((k) => was[k]?.version !== now[k]?.version);
    console.error(`lock check: npm install would change package-lock.json (${changed.length} entries), e.g.:`);
    for (const k of changed.slice(0, 10))
      console.error(`  ${k}: ${was[k]?.version ?? 'missing'} → ${now[k]?.version ?? 'removed'}`);
    console.error('lock check: run `npm install` and commit package-lock.json');
    process.exit(1);
  }
  console.log('lock check: package-lock.json is what npm install would write');
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
