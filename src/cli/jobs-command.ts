import { parseArgs } from "node:util";
import type { FailedJob } from "../engine/failed-jobs.ts";
import type { Settings } from "../settings.ts";
import { UsageError } from "./exit-codes.ts";
import { withEngine } from "./open-engine.ts";

function print(text: string): void {
  process.stdout.write(`${text}\n`);
}

function describe(job: FailedJob): string {
  const about =
    job.runId ?? (job.deliveryIds.length === 0 ? "-" : `delivery ${job.deliveryIds.join(", ")}`);
  return `${job.id}  ${job.queue.padEnd(20)} ${job.failedAt.toISOString()}  ${about}\n    ${job.error}`;
}

/** `devflow jobs …`: the jobs that failed every retry, and retrying them. */
export async function jobsCommand(settings: Settings, args: string[]): Promise<void> {
  const [action, ...rest] = args;
  let values: { all?: boolean | undefined; json?: boolean | undefined };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: rest,
      allowPositionals: true,
      options: { all: { type: "boolean" }, json: { type: "boolean" } },
    }));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  switch (action) {
    case "failed":
      if (positionals.length > 0) throw new UsageError("jobs failed takes no job");
      return withEngine(settings, async (engine) => {
        const failed = await engine.listFailedJobs();
        if (values.json) print(JSON.stringify(failed, null, 2));
        else print(failed.length === 0 ? "no failed jobs" : failed.map(describe).join("\n"));
      });
    case "retry":
      if (values.all === true && positionals.length > 0)
        throw new UsageError("jobs retry takes job ids or --all, not both");
      if (values.all !== true && positionals.length === 0)
        throw new UsageError("jobs retry needs job ids (devflow jobs failed lists them) or --all");
      return withEngine(settings, async (engine) => {
        const retried = await engine.retryFailedJobs(values.all === true ? "all" : positionals);
        print(
          retried.length === 0
            ? "no failed jobs"
            : retried.map((job) => `retrying ${job.id} (${job.queue})`).join("\n"),
        );
      });
    case undefined:
      throw new UsageError("jobs needs an action: failed or retry");
    default:
      throw new UsageError(`unknown jobs action "${action}"`);
  }
}
