/**
 * Paces an installation's GitHub writes: a burst of `burst` at once, then one per
 * `intervalMs` (GitHub asks for about a second between writes and allows some 80
 * content-creating requests a minute). Urgent writes — the 👀 reaction, the draft
 * pull request: what a person waits for — go before the others waiting. One pacer
 * per process serves every installation, each with its own bucket.
 */
export interface WritePacer {
  /** Resolves when the write may go. */
  take(installationId: number, urgent: boolean): Promise<void>;
}

interface Bucket {
  tokens: number;
  refilledAt: number;
  urgent: (() => void)[];
  rest: (() => void)[];
  timer: NodeJS.Timeout | undefined;
}

export function createWritePacer({
  burst = 5,
  intervalMs = 1_000,
  now = () => performance.now(),
}: {
  burst?: number;
  intervalMs?: number;
  now?: () => number;
} = {}): WritePacer {
  const buckets = new Map<number, Bucket>();

  const refill = (bucket: Bucket) => {
    const earned = Math.floor((now() - bucket.refilledAt) / intervalMs);
    if (earned > 0) {
      bucket.tokens = Math.min(burst, bucket.tokens + earned);
      bucket.refilledAt += earned * intervalMs;
      if (bucket.tokens === burst) bucket.refilledAt = now();
    }
  };

  const drain = (key: number, bucket: Bucket) => {
    bucket.timer = undefined;
    refill(bucket);
    while (bucket.tokens > 0) {
      const next = bucket.urgent.shift() ?? bucket.rest.shift();
      if (next === undefined) break;
      bucket.tokens -= 1;
      next();
    }
    if (bucket.urgent.length + bucket.rest.length > 0) {
      const wait = Math.max(1, bucket.refilledAt + intervalMs - now());
      bucket.timer = setTimeout(() => drain(key, bucket), wait);
    } else if (bucket.tokens === burst) {
      buckets.delete(key);
    }
  };

  return {
    take(installationId, urgent) {
      let bucket = buckets.get(installationId);
      if (bucket === undefined) {
        bucket = { tokens: burst, refilledAt: now(), urgent: [], rest: [], timer: undefined };
        buckets.set(installationId, bucket);
      }
      const held = bucket;
      return new Promise<void>((resolve) => {
        (urgent ? held.urgent : held.rest).push(resolve);
        if (held.timer === undefined) drain(installationId, held);
      });
    },
  };
}
