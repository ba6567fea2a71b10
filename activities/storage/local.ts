import { mkdirSync, renameSync, statSync, existsSync, rmSync, copyFileSync, unlinkSync, readdirSync } from 'node:fs';
import { dirname, join, resolve, sep } from 'node:path';
import { assertValidKey, type ObjectStore, type StoredObject } from './object-store';

/** Object store on a local directory: the embedded default stage. */
export class LocalObjectStore implements ObjectStore {
  /** Absolute root directory of the stage. */
  readonly root: string;

  constructor(root: string) {
    this.root = resolve(root);
    mkdirSync(this.root, { recursive: true });
  }

  private pathOf(key: string): string {
    assertValidKey(key);
    return join(this.root, key);
  }

  async putFile(key: string, localPath: string): Promise<{ key: string; bytes: number }> {
    const target = this.pathOf(key);
    mkdirSync(dirname(target), { recursive: true });
    try {
      renameSync(localPath, target); // atomic within one filesystem: readers never see half a file
    } catch {
      const tmp = `${target}.partial`;
      copyFileSync(localPath, tmp);
      renameSync(tmp, target);
      unlinkSync(localPath);
    }
    return { key, bytes: statSync(target).size };
  }

  uriFor(key: string): string {
    return this.pathOf(key);
  }

  async exists(key: string): Promise<boolean> {
    return existsSync(this.pathOf(key));
  }

  async list(prefix: string): Promise<StoredObject[]> {
    const base = prefix.replace(/\/+$/, '');
    const dir = this.pathOf(base);
    if (!existsSync(dir) || !statSync(dir).isDirectory()) return [];
    return readdirSync(dir, { recursive: true, encoding: 'utf8' })
      .map((rel) => `${base}/${rel.split(sep).join('/')}`)
      .filter((key) => !key.endsWith('.partial')) // a copy still in flight is not staged yet
      .map((key) => ({ key, stat: statSync(join(this.root, key)) }))
      .filter(({ stat }) => stat.isFile())
      .map(({ key, stat }) => ({ key, bytes: stat.size }))
      .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async deletePrefix(prefix: string): Promise<void> {
    rmSync(this.pathOf(prefix.replace(/\/+$/, '')), { recursive: true, force: true });
  }
}
