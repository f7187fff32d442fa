import { DevflowError } from "../../errors.ts";
import { prepareWorkspace } from "../prepare-workspace.ts";
import { commitAttempt } from "./commit-attempt.ts";
import { refreshRepositoryCache } from "./repository-cache.ts";
import type { GitCredentials, Workspaces } from "./workspaces.ts";

/**
 * Checkouts of each run's branch under `<root>/<runId>`, cloned from a
 * per-repository cache under `<root>/cache` and fetched and reset to the remote
 * before every attempt. The token is fetched per operation and passed to
 * git per command; it is never stored, and never present while the agent runs.
 */
export function createGitWorkspaces({
  root,
  credentials,
}: {
  root: string;
  credentials: GitCredentials;
}): Workspaces {
  return {
    kind: "git",
    async prepare(run) {
      if (run.cloneUrl === null) {
        throw new DevflowError(`run ${run.id} has no clone URL`, {
          class: "fatal",
          code: "workspace_no_remote",
          category: "git",
        });
      }
      const cloneUrl = run.cloneUrl;
      const token = await credentials.tokenFor(run);
      const prepared = await prepareWorkspace({
        root,
        runId: run.id,
        remoteUrl: cloneUrl,
        branch: run.branch,
        baseBranch: run.baseBranch,
        token,
        cache: await refreshRepositoryCache({ root, remoteUrl: cloneUrl, token }),
      });
      return {
        path: prepared.path,
        commit: async (details) =>
          commitAttempt({
            ...details,
            path: prepared.path,
            branch: run.branch,
            token: await credentials.tokenFor(run),
          }),
      };
    },
  };
}
