#!/usr/bin/env node
// Runs from npm `predemo`/`pretest`, before dependencies may exist, so it must use only Node built-ins.
'use strict';

const { spawn } = require('node:child_process');
const { createHash } = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..', '..');
const lockFile = path.join(root, 'package-lock.json');
const MIN_NODE = [20, 3];
const LOCK_OUT_OF_SYNC = /can only install packages when your package\.json and package-lock\.json/;

/** Prints a one-line failure and exits non-zero. */
function fail(message) {
  console.error(`bootstrap: ERROR: ${message}`);
  process.exit(1);
}

/** Returns the mtime of `file` in ms, or undefined if it does not exist. */
function mtime(file) {
  try {
    return fs.statSync(file).mtimeMs;
  } catch {
    return undefined;
  }
}

/** Returns a hash of `file`'s content, or undefined if it does not exist. */
function digest(file) {
  try {
    return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
  } catch {
    return undefined;
  }
}

/** Explains why dependencies must be (re)installed, or returns undefined when they are current. */
function installReason() {
  if (!fs.existsSync(path.join(root, 'node_modules'))) return 'node_modules missing';
  // npm writes node_modules/.package-lock.json on every install, so it dates the last install.
  const installedAt = mtime(path.join(root, 'node_modules', '.package-lock.json'));
  if (installedAt === undefined) return 'node_modules incomplete';
  const lockAt = mtime(lockFile);
  if (lockAt !== undefined && lockAt > installedAt) return 'package-lock.json changed';
  return undefined;
}

/** Runs npm with `args` and resolves to { status, stderr }; stderr is streamed unless `holdStderr`. */
function npm(args, holdStderr = false) {
  // Prefer the npm that invoked this script (npm_execpath) so the same npm version does the install.
  const npmCli = process.env.npm_execpath;
  const [cmd, argv] = npmCli && /\.c?js$/.test(npmCli) ? [process.execPath, [npmCli, ...args]] : ['npm', args];
  return new Promise((resolve) => {
    const child = spawn(cmd, argv, { cwd: root, stdio: ['inherit', 'inherit', 'pipe'] });
    let stderr = '';
    // stderr is kept so a lock-file mismatch can be recognised afterwards (and its long usage dump hidden).
    child.stderr.on('data', (chunk) => {
      if (!holdStderr) process.stderr.write(chunk);
      stderr = (stderr + chunk.toString()).slice(-64 * 1024);
    });
    child.once('error', (err) => fail(`could not run npm: ${err.message}`));
    child.once('close', (code, signal) => resolve({ status: code ?? signal, stderr }));
  });
}

async function main() {
  const [major, minor] = process.versions.node.split('.').map(Number);
  if (major < MIN_NODE[0] || (major === MIN_NODE[0] && minor < MIN_NODE[1])) {
    fail(`Node ${MIN_NODE.join('.')}+ is required, this is ${process.versions.node}`);
  }
  const reason = installReason();
  if (!reason) return;
  if (!fs.existsSync(lockFile)) {
    fail(`${reason} and there is no package-lock.json for npm ci; run npm install first`);
  }

  console.log(`bootstrap: ${reason}, running npm ci`);
  const started = Date.now();
  const before = digest(lockFile);
  const ci = await npm(['ci', '--no-audit', '--no-fund'], true);
  process.stderr.write(ci.stderr);
  // npm ci never writes the lock; checked anyway, since a changed lock on a fresh clone is what this guards against.
  if (digest(lockFile) !== before) fail('npm ci changed package-lock.json; this must not happen, please report it');
  if (ci.status === 0) {
    console.log(`bootstrap: npm ci done in ${((Date.now() - started) / 1000).toFixed(1)}s`);
    return;
  }
  if (LOCK_OUT_OF_SYNC.test(ci.stderr)) {
    // Never fall back to npm install: it would rewrite the lock and install versions nobody reviewed.
    fail(
      'package-lock.json does not match package.json; whoever changed package.json regenerates the lock with ' +
        "`npm install` (keeping every platform's optional packages) and commits both",
    );
  }
  fail(`npm ci failed (exit ${ci.status}); see the npm output above`);
}

main().catch((err) => fail(err && err.message ? err.message : String(err)));
