import type { Job, Queue } from "pg-boss";
import type { Logger } from "pino";
import type { Engine } from "../src/engine/create-engine.ts";
import { type FinishBranchPayload, QUEUES } from "../src/engine/outbox.ts";
import { reportJsonPath, reportPath } from "../src/report/build-final-report.ts";
import { runDirectory } from "../src/report/final-report.ts";
import { removeAgentFile, writeDevflowFile } from "../src/runner/agent-files.ts";
import type { Workspaces } from "../src/runner/workspaces/workspaces.ts";

export type { FinishBranchPayload };

export const queue: Queue = {
  name: QUEUES.finishBranch,
  notify: true,
  policy: "stately",
  // The remote may be down or slow for a while; each commit is found again by its
  // trailers, so a retry never commits twice.
  retryLimit: 6,
  retryDelay: 5,
  retryBackoff: true,
  retryDelayMax: 300,
  expireInSeconds: 300,
  deadLetter: QUEUES.deadLetter,
};

/**
 * Finishes a terminal run's branch: commits `report.md` and `report.json` under the
 * run's directory, then — for a completed run, unless the repository keeps them —
 * takes the directory out of the tree in one more commit, so merging the pull
 * request adds nothing of devflow's to the default branch (the branch's history
 * keeps every artifact; the report links to the commit that holds them). Records
 * both commits with the engine, which tells the publisher to show the run as over.
 */
export function createFinishBranchHandler({
  engine,
  workspaces,
  log,
}: {
  engine: Pick<Engine, "getRunStatus" | "recordBranchFinished">;
  workspaces: Workspaces;
  log: Logger;
}) {
  return async (jobs: Job<FinishBranchPayload>[]) => {
    for (const job of jobs) {
      const { runId } = job.data;
      const status = await engine.getRunStatus(runId);
      if (!status.branchFinishing || status.report === null) continue;
      const { run, report } = status;
      if (status.headSha === null) {
        // Nothing was ever committed: no branch to finish, and none to start for a report.
        await engine.recordBranchFinished({
          runId,
          reportCommit: null,
          headCommit: null,
          tidied: false,
        });
        continue;
      }
      const workspace = await workspaces.prepare(run);
      // The branch is what the run's agents committed: a link or a file where the
      // run's directory or the report belongs is removed, never followed.
      await writeDevflowFile(workspace.path, reportPath(runId), report.markdown);
      await writeDevflowFile(
        workspace.path,
        reportJsonPath(runId),
        `${JSON.stringify(report.json, null, 2)}\n`,
      );
      const reportCommit = await workspace.commit({
        runId,
        phaseKey: "report",
        attempt: status.revisions + 1,
        title: `report (${run.state})`,
        body: `The run's report, next to its artifacts.`,
        forceAdd: [reportPath(runId), reportJsonPath(runId)],
      });
      let headCommit = reportCommit;
      const tidy = run.state === "completed" && !status.keepArtifactsInTree;
      if (tidy) {
        await removeAgentFile(workspace.path, runDirectory(runId));
        headCommit =
          (await workspace.commit({
            runId,
            phaseKey: "tidy",
            attempt: status.revisions + 1,
            title: "take the run's files out of the tree",
            body: `Every artifact of this run stays in the branch's history${reportCommit === null ? "" : `, at ${reportCommit}`}.`,
          })) ?? reportCommit;
      }
      await workspace.release();
      log.info({ runId, reportCommit, headCommit, tidy }, "run branch finished");
      await engine.recordBranchFinished({ runId, reportCommit, headCommit, tidied: tidy });
    }
  };
}
