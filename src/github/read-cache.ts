/**
 * What devflow read from GitHub and may use again for a short while: a
 * repository's config (with its ETag, so that reading it again after the while is
 * a conditional request, and a 304 costs no rate limit) and a user's permission on
 * a repository. One per GitHub access (one per process); bounded, oldest out first.
 */
export interface ReadCache {
  /** The value under `key` and its ETag; `fresh` while younger than the cache's life. */
  get<T>(key: string): { value: T; etag: string | undefined; fresh: boolean } | undefined;
  set(key: string, value: unknown, etag?: string): void;
  /** Marks an entry fresh again (GitHub answered 304: not modified). */
  touch(key: string): void;
}

export function createReadCache({
  lifeMs = 60_000,
  maxEntries = 10_000,
  now = Date.now,
}: {
  lifeMs?: number;
  maxEntries?: number;
  now?: () => number;
} = {}): ReadCache {
  const entries = new Map<string, { value: unknown; etag: string | undefined; at: number }>();
  return {
    get<T>(key: string) {
      const entry = entries.get(key);
      if (entry === undefined) return undefined;
      return { value: entry.value as T, etag: entry.etag, fresh: now() - entry.at < lifeMs };
    },
    set(key, value, etag) {
      entries.delete(key);
      entries.set(key, { value, etag, at: now() });
      if (entries.size > maxEntries) {
        const oldest = entries.keys().next().value;
        if (oldest !== undefined) entries.delete(oldest);
      }
    },
    touch(key) {
      const entry = entries.get(key);
      if (entry !== undefined) {
        entries.delete(key);
        entries.set(key, { ...entry, at: now() });
      }
    },
  };
}

/** A cache that keeps nothing: every read goes to GitHub. */
export const noReadCache: ReadCache = {
  get: () => undefined,
  set: () => {},
  touch: () => {},
};
