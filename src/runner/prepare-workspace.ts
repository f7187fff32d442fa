import { existsSync } from "node:fs";
import { mkdir, rename } from "node:fs/promises";
import { join } from "node:path";
import { type SimpleGit, simpleGit } from "simple-git";
import { DevflowError } from "../errors.ts";

export interface PrepareWorkspaceOptions {
  /** Where per-run workspaces live. */
  root: string;
  runId: string;
  /** The repository's clone URL (from the webhook payload), without credentials. */
  remoteUrl: string;
  /** The run branch, `devflow/<issue>-<slug>`. */
  branch: string;
  baseBranch: string;
  /** An installation token, sent with each fetch or push and never stored. */
  token?: string | undefined;
  /** A local bare copy of the repository to clone from, when there is one. */
  cache?: string | undefined;
}

export interface PreparedWorkspace {
  path: string;
  /** Where a workspace that could not be trusted was moved, if one was. */
  movedAside: string | null;
  /** Whether the run branch already existed on the remote. */
  branchOnRemote: boolean;
}

/** Per-command git environment: the token as an HTTP header, nothing written to disk. */
export function gitAuthEnv(token: string | undefined): Record<string, string> {
  const base: Record<string, string> = { GIT_TERMINAL_PROMPT: "0" };
  if (token === undefined) return base;
  const basic = Buffer.from(`x-access-token:${token}`).toString("base64");
  return {
    ...base,
    GIT_CONFIG_COUNT: "1",
    GIT_CONFIG_KEY_0: "http.extraHeader",
    GIT_CONFIG_VALUE_0: `Authorization: Basic ${basic}`,
  };
}

/** git gets a minimal environment: nothing of devflow's own settings or secrets leaks into it. */
export function gitIn(dir: string, token?: string, extra: Record<string, string> = {}): SimpleGit {
  const env: Record<string, string> = { LANG: "C", ...gitAuthEnv(token), ...extra };
  for (const name of ["PATH", "HOME"] as const) {
    const value = process.env[name];
    if (value !== undefined) env[name] = value;
  }
  // simple-git guards GIT_* variables; these are the ones devflow sets on purpose.
  // simple-git guards GIT_* variables; these are the ones devflow sets on purpose, and the
  // GIT_CONFIG_* trio carries exactly one key, http.extraHeader.
  return simpleGit({
    baseDir: dir,
    allowEnvironment: Object.keys(env).filter((name) => name.startsWith("GIT_")),
    unsafe: { allowUnsafeConfigEnvCount: true },
  }).env(env);
}

/** Why an existing directory is not this run's workspace, or null when it is. */
async function whyUntrusted(
  path: string,
  options: PrepareWorkspaceOptions,
): Promise<string | null> {
  if (!existsSync(join(path, ".git", "HEAD"))) return "it is not a complete git checkout";
  const git = gitIn(path);
  try {
    const top = (await git.revparse(["--show-toplevel"])).trim();
    if (top !== path) return `its git top level is ${top}`;
    const origin = (await git.remote(["get-url", "origin"]))?.trim();
    if (origin !== options.remoteUrl)
      return `its origin is ${origin ?? "missing"}, not ${options.remoteUrl}`;
    await git.status();
  } catch (error) {
    return `git cannot read it (${(error as Error).message.split("\n")[0]})`;
  }
  return null;
}

/**
 * Makes `<root>/<runId>` a checkout of the run branch as it is on the remote: the
 * remote run branch is the truth. A directory there that is partial or belongs to
 * another repository is never worked in: it is moved aside (nothing is deleted)
 * and the workspace is cloned afresh. A run branch not yet on the remote starts
 * from the base branch.
 */
export async function prepareWorkspace(
  options: PrepareWorkspaceOptions,
): Promise<PreparedWorkspace> {
  await mkdir(options.root, { recursive: true });
  const path = join(options.root, options.runId);
  let movedAside: string | null = null;
  if (existsSync(path)) {
    const reason = await whyUntrusted(path, options);
    if (reason !== null) {
      movedAside = `${path}.untrusted-${Date.now()}`;
      await rename(path, movedAside);
    }
  }
  try {
    if (!existsSync(path)) {
      const reference =
        options.cache === undefined ? [] : ["--reference-if-able", options.cache, "--dissociate"];
      await gitIn(options.root, options.token).clone(options.remoteUrl, path, [
        "--no-checkout",
        "--origin",
        "origin",
        ...reference,
      ]);
    }
    const git = gitIn(path, options.token);
    await git.fetch(["--prune", "origin"]);
    const remoteBranches = await git.branch(["-r"]);
    const branchOnRemote = remoteBranches.all.includes(`origin/${options.branch}`);
    const start = branchOnRemote ? `origin/${options.branch}` : `origin/${options.baseBranch}`;
    if (!remoteBranches.all.includes(start)) {
      throw new DevflowError(
        `the base branch ${options.baseBranch} is not on ${options.remoteUrl}`,
        {
          class: "fatal",
          code: "base_branch_missing",
          category: "git",
        },
      );
    }
    await git.raw(["checkout", "--force", "-B", options.branch, start]);
    await git.raw(["clean", "-fdx"]);
    return { path, movedAside, branchOnRemote };
  } catch (error) {
    if (error instanceof DevflowError) throw error;
    throw new DevflowError(
      `could not prepare the workspace of run ${options.runId}: ${(error as Error).message}`,
      {
        class: "recoverable",
        code: "workspace_prepare_failed",
        category: "git",
        cause: error,
      },
    );
  }
}
