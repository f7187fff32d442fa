import type { Job, Queue } from "pg-boss";
import type { Logger } from "pino";
import type { Engine } from "../src/engine/create-engine.ts";
import { QUEUES, type SweepPayload } from "../src/engine/outbox.ts";

export type { SweepPayload };

export const queue: Queue = {
  name: QUEUES.sweep,
  // One sweep at a time across all workers; a queued one is enough to catch up.
  policy: "singleton",
  // The next scheduled sweep is the retry.
  retryLimit: 0,
  expireInSeconds: 120,
};

export function createSweepHandler({
  engine,
  log,
  staleAfterMs,
}: {
  engine: Engine;
  log: Logger;
  staleAfterMs: number;
}) {
  return async (_jobs: Job<SweepPayload>[]) => {
    const result = await engine.sweepRuns({ staleAfterMs });
    if (result.superseded.length > 0 || result.advanced.length > 0)
      log.info(result, "sweep restarted work");
  };
}
