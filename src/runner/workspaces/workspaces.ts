import type { RunRow } from "../../db/rows.ts";
import type { ReadOnlyMount } from "../runner.ts";

export interface AttemptCommit {
  runId: string;
  phaseKey: string;
  attempt: number;
  /** The commit's subject, after `devflow(<phase>): `. */
  title: string;
  body: string;
  /** Paths (relative to the tree) committed even if the tree's .gitignore names them. */
  forceAdd?: string[];
  /** Sees what is staged and the message before the commit; throws to refuse them. */
  review?: (staged: { diff: string; message: string }) => Promise<void>;
}

export interface Workspace {
  /** Host path of the checkout the agent works in. */
  path: string;
  /**
   * What the agent may read but not write, and where its sandbox shows it
   * (devflow's object store, which the agent's `.git` borrows from).
   */
  readOnly: ReadOnlyMount[];
  /**
   * A file of the base branch as the remote has it (AGENTS.md): read from devflow's
   * git directory, never from the tree the agent writes. Null when it is not there.
   */
  readBaseFile(path: string): Promise<string | null>;
  /** Commits and pushes what the attempt changed; the commit's sha, or null when nothing is committed. */
  commit(details: AttemptCommit): Promise<string | null>;
  /**
   * Empties the work tree once what it holds is committed: nothing an agent wrote
   * stays on the host after its attempt (the next attempt checks the branch out afresh).
   */
  release(): Promise<void>;
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
