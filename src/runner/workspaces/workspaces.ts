import type { RunRow } from "../../engine/types.ts";

export interface AttemptCommit {
  runId: string;
  phaseKey: string;
  attempt: number;
  /** The commit's subject, after `devflow(<phase>): `. */
  title: string;
  body: string;
}

export interface Workspace {
  /** Host path of the checkout the agent works in. */
  path: string;
  /** Commits and pushes what the attempt changed; the commit's sha, or null when nothing is committed. */
  commit(details: AttemptCommit): Promise<string | null>;
}

/** Where attempts work: git checkouts of the run branch, or scratch directories. */
export interface Workspaces {
  readonly kind: "git" | "scratch";
  prepare(run: RunRow): Promise<Workspace>;
}

/** Installation tokens for git, scoped to one repository; none for remotes that need none. */
export interface GitCredentials {
  tokenFor(
    run: Pick<RunRow, "repository" | "repositoryId" | "installationId">,
  ): Promise<string | undefined>;
}

export const noGitCredentials: GitCredentials = { tokenFor: async () => undefined };
