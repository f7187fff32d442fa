import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { QUEUES } from "../../src/engine/outbox.ts";
import { renderRunSummary } from "../../src/github/publish/render-run-status.ts";
import { createMetrics } from "../../src/observability/metrics.ts";
import { runDevflow } from "../helpers/cli-process.ts";
import { type Harness, startHarness } from "../helpers/harness.ts";
import { createTestDatabase } from "../helpers/test-database.ts";

let h: Harness;
let databaseUrl: string;
beforeAll(async () => {
  databaseUrl = await createTestDatabase();
  h = await startHarness({ databaseUrl, workers: false });
});
afterAll(async () => {
  await h.stop({ graceful: false });
});

describe("dead letters are work: devflow jobs failed and retry", () => {
  it("lists a job that failed every retry with its error and run, shows its run as stuck, counts it in /metrics, and retries it", async () => {
    const { runId } = await h.start();
    const { boss } = h.devflow;
    const id = await boss.send(QUEUES.publishRun, { runId }, { retryLimit: 0 });
    const [job] = await boss.fetch(QUEUES.publishRun);
    expect(job?.id).toBe(id);
    await boss.fail(QUEUES.publishRun, job?.id ?? "", {
      message: "GitHub answered 502 to every try",
    });

    const failed = await runDevflow(["jobs", "failed"], { DATABASE_URL: databaseUrl });
    expect(failed.code).toBe(0);
    expect(failed.stdout).toContain(`${id}  run-publish`);
    expect(failed.stdout).toContain(runId);
    expect(failed.stdout).toContain("GitHub answered 502 to every try");
    const listed = JSON.parse(
      (await runDevflow(["jobs", "failed", "--json"], { DATABASE_URL: databaseUrl })).stdout,
    ) as { id: string; queue: string; runId: string }[];
    expect(listed).toEqual([expect.objectContaining({ id, queue: "run-publish", runId })]);

    // The run says it is stuck, where people and operators look.
    const shown = await runDevflow(["runs", "show", runId], { DATABASE_URL: databaseUrl });
    expect(shown.stdout).toContain(`stuck     run-publish job ${id} failed every retry`);
    const status = await h.status(runId);
    expect(renderRunSummary(status, null)).toContain(
      `**Stuck:** devflow's \`run-publish\` job for this run failed every retry (GitHub answered 502 to every try). An operator can retry it: \`devflow jobs retry ${id}\`.`,
    );
    const metrics = await createMetrics().render(h.devflow.database.pool);
    expect(metrics).toContain('devflow_failed_jobs{queue="run-publish"} 1');

    const unknown = await runDevflow(["jobs", "retry", "00000000-0000-0000-0000-000000000000"], {
      DATABASE_URL: databaseUrl,
    });
    expect(unknown.code).toBe(4);
    expect(unknown.stderr).toContain("no failed job 00000000-0000-0000-0000-000000000000");
    expect((await runDevflow(["jobs", "retry"], { DATABASE_URL: databaseUrl })).code).toBe(2);

    const retried = await runDevflow(["jobs", "retry", id ?? ""], { DATABASE_URL: databaseUrl });
    expect(retried.stdout).toContain(`retrying ${id} (run-publish)`);
    expect((await boss.getJobById(QUEUES.publishRun, id ?? ""))?.state).toBe("retry");
    expect((await h.status(runId)).stuck).toEqual([]);
    const none = await runDevflow(["jobs", "retry", "--all"], { DATABASE_URL: databaseUrl });
    expect(none.stdout).toContain("no failed jobs");
  }, 120_000);
});
