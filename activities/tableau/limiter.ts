/**
 * Bounds how many refresh jobs run at once per Tableau site within one worker process: refresh
 * activities of several datasets that share a site share its slots. Each caller passes its own limit
 * (its dataset's maxConcurrentRefreshes); a slot is taken while fewer than that many are held.
 */
export class SiteLimiter {
  private readonly active = new Map<string, number>();
  private readonly waiters = new Map<string, (() => void)[]>();

  /** Runs `fn` holding one of `site`'s slots. */
  async run<T>(site: string, limit: number, fn: () => Promise<T>): Promise<T> {
    while ((this.active.get(site) ?? 0) >= limit) {
      await new Promise<void>((resolve) => {
        const list = this.waiters.get(site) ?? [];
        list.push(resolve);
        this.waiters.set(site, list);
      });
    }
    this.active.set(site, (this.active.get(site) ?? 0) + 1);
    try {
      return await fn();
    } finally {
      this.active.set(site, (this.active.get(site) ?? 1) - 1);
      // Wake everyone waiting on the site; each re-checks against its own limit.
      const list = this.waiters.get(site) ?? [];
      this.waiters.delete(site);
      for (const wake of list) wake();
    }
  }

  /** Slots held now (for tests and logs). */
  held(site: string): number {
    return this.active.get(site) ?? 0;
  }
}
