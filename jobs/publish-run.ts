import type { Job, Queue } from "pg-boss";
import { type PublishRunPayload, QUEUES } from "../src/engine/outbox.ts";
import { type PublishRunDeps, publishRun } from "../src/github/publish/publish-run.ts";

export type { PublishRunPayload };

export const queue: Queue = {
  name: QUEUES.publishRun,
  notify: true,
  // One waiting and one running per run (singletonKey = run id): a burst of
  // transitions is one publish, which reads the state when it runs. (A publish asked
  // for later, to show a phase still running, has a key of its own; publishes of one
  // run take turns on an advisory lock.)
  policy: "stately",
  // GitHub may rate-limit or hiccup; every step is a reconcile, so retry with backoff.
  retryLimit: 8,
  retryDelay: 2,
  retryBackoff: true,
  retryDelayMax: 300,
  expireInSeconds: 300,
  deadLetter: QUEUES.deadLetter,
};

export function createPublishRunHandler(deps: PublishRunDeps) {
  return async (jobs: Job<PublishRunPayload>[]) => {
    for (const job of jobs) await publishRun(deps, job.data.runId);
  };
}
