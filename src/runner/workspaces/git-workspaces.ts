import { mkdir } from "node:fs/promises";
import { DevflowError } from "../../errors.ts";
import type { CommitLimits } from "../../security/execution-limits.ts";
import { besideWorkspace } from "../sandbox/sandbox-view.ts";
import { AGENT_OBJECTS } from "./agent-git-dir.ts";
import { commitAttempt } from "./commit-attempt.ts";
import { prepareWorkspace } from "./prepare-workspace.ts";
import { removeTree } from "./remove-tree.ts";
import { refreshRepositoryCache } from "./repository-cache.ts";
import { runGit } from "./run-git.ts";
import type { GitCredentials, Workspaces } from "./workspaces.ts";

/**
 * Each run's workspace under `<root>/<runId>`: devflow's git directory, fed from a
 * per-repository cache under `<root>/cache`, and the agent's work tree, checked
 * out afresh before every attempt. The token is fetched per operation and passed
 * to git per command; it is never stored, and never present while the agent runs.
 */
export function createGitWorkspaces({
  root,
  credentials,
  commitLimits,
}: {
  root: string;
  credentials: GitCredentials;
  /** How much one attempt's commit may hold (the defaults when not given). */
  commitLimits?: CommitLimits | undefined;
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
      const cache = refreshRepositoryCache({ root, remoteUrl: cloneUrl, token });
      // Awaited by prepareWorkspace (a failure fails the workspace), unless it fails first.
      cache.catch(() => undefined);
      const prepared = await prepareWorkspace({
        root,
        runId: run.id,
        remoteUrl: cloneUrl,
        branch: run.branch,
        baseBranch: run.baseBranch,
        token,
        cache,
      });
      return {
        path: prepared.path,
        readOnly: [{ source: prepared.objectsDir, target: besideWorkspace(AGENT_OBJECTS) }],
        readBaseFile: async (path) =>
          runGit({
            gitDir: prepared.gitDir,
            args: ["cat-file", "blob", `refs/remotes/origin/${run.baseBranch}:${path}`],
          }).catch(() => null),
        commit: async (details) =>
          commitAttempt({
            ...details,
            gitDir: prepared.gitDir,
            tree: prepared.path,
            remoteUrl: cloneUrl,
            branch: run.branch,
            token: await credentials.tokenFor(run),
            ...(commitLimits === undefined ? {} : { limits: commitLimits }),
          }),
        release: async () => {
          await removeTree(prepared.path);
          await mkdir(prepared.path);
        },
      };
    },
  };
}
