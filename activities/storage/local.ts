import { mkdirSync, renameSync, statSync, existsSync, rmSync, copyFileSync, unlinkSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { ObjectStore } from './object-store';

/** Object store on a local directory: the embedded default stage. */
export class LocalObjectStore implements ObjectStore {
  /** Absolute root directory of the stage. */
  readonly root: string;

  constructor(root: string) {
    this.root = resolve(root);
    mkdirSync(this.root, { recursive: true });
  }

  private pathOf(key: string): string {
    if (key.split('/').some((part) => part === '..' || part === '')) throw new Error(`invalid object key '${key}'`);
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

  async deletePrefix(prefix: string): Promise<void> {
    rmSync(this.pathOf(prefix.replace(/\/+$/, '')), { recursive: true, force: true });
  }
}
