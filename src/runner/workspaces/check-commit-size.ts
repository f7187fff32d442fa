import { spawn } from "node:child_process";
import { lstat } from "node:fs/promises";
import { DevflowError } from "../../errors.ts";
import type { CommitLimits } from "../../security/execution-limits.ts";
import { GIT_TIMEOUT_MS, GitCommandError, gitEnvironment } from "./run-git.ts";

export interface CheckCommitSizeOptions {
  gitDir: string;
  tree: string;
  /** Paths added even where the tree's .gitignore names them (the run's directory). */
  forceAdd: string[];
  limits: CommitLimits;
}

const MIB = 1024 * 1024;
const SLASH = Buffer.from("/");

/**
 * Streams the NUL-separated paths a git command prints to `visit`, holding none of
 * them itself: a tree of millions of files is counted, not kept in memory.
 */
function eachPath(
  options: { gitDir: string; tree: string; args: string[] },
  visit: (path: Buffer) => void,
): Promise<void> {
  const env = { ...gitEnvironment(), GIT_DIR: options.gitDir, GIT_WORK_TREE: options.tree };
  return new Promise((resolve, reject) => {
    const child = spawn("git", options.args, {
      cwd: options.tree,
      env,
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let rest = Buffer.alloc(0);
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => {
      const data = rest.length === 0 ? chunk : Buffer.concat([rest, chunk]);
      let start = 0;
      for (let end = data.indexOf(0); end !== -1; end = data.indexOf(0, start)) {
        visit(data.subarray(start, end));
        start = end + 1;
      }
      rest = Buffer.from(data.subarray(start));
    });
    child.stderr.on("data", (chunk: Buffer) => {
      if (stderr.length < 64 * 1024) stderr += chunk.toString("utf8");
    });
    const timer = setTimeout(() => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, "SIGKILL");
      } catch {
        // Gone already.
      }
    }, GIT_TIMEOUT_MS);
    child.once("error", (error) => {
      clearTimeout(timer);
      reject(new GitCommandError(`git could not run: ${error.message}`, "", null));
    });
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else {
        const last = stderr.trim().split("\n").at(-1) ?? "";
        const how = signal === null ? `exit ${code}` : `killed by ${signal}`;
        reject(
          new GitCommandError(`git ${options.args[0]} failed (${how}): ${last}`, stderr, code),
        );
      }
    });
  });
}

function tooLarge(what: string, setting: string): DevflowError {
  return new DevflowError(
    `devflow did not push this attempt: its commit would ${what} (${setting})`,
    {
      class: "fatal",
      code: "commit_too_large",
      category: "agent_error",
      recoveryHint: `keep what is not meant to be committed out of the work (.gitignore), or raise ${setting}`,
    },
  );
}

/**
 * Counts what `git add --all` (and the forced paths) would stage, before anything is
 * staged — so a tree of a million files or a file of gigabytes is refused without
 * devflow hashing it into its object store — and refuses a commit past the limits,
 * saying how many files or MiB it would hold, the limit, and the setting that
 * raises it. The listings are disjoint: changed tracked files, new files not
 * ignored, and new ignored files under the forced paths.
 */
export async function checkCommitSize(options: CheckCommitSizeOptions): Promise<void> {
  const { maxFiles, maxMb } = options.limits;
  const listings = [
    ["diff", "-z", "--name-only", "--no-renames"],
    ["ls-files", "-z", "--others", "--exclude-standard"],
  ];
  if (options.forceAdd.length > 0) {
    listings.push([
      "ls-files",
      "-z",
      "--others",
      "--ignored",
      "--exclude-standard",
      "--",
      ...options.forceAdd,
    ]);
  }
  let count = 0;
  const paths: Buffer[] = [];
  for (const args of listings) {
    await eachPath({ gitDir: options.gitDir, tree: options.tree, args }, (path) => {
      count += 1;
      if (count <= maxFiles) paths.push(Buffer.from(path));
    });
  }
  if (count > maxFiles) {
    throw tooLarge(
      `change ${count} files, more than the ${maxFiles} one attempt's commit may change`,
      "DEVFLOW_MAX_COMMIT_FILES",
    );
  }
  const root = Buffer.from(options.tree);
  let bytes = 0;
  for (const path of paths) {
    // A deleted file adds nothing; a link adds its target's name, as git stores it.
    const stats = await lstat(Buffer.concat([root, SLASH, path])).catch(() => null);
    bytes += stats?.isFile() || stats?.isSymbolicLink() ? stats.size : 0;
  }
  if (bytes > maxMb * MIB) {
    throw tooLarge(
      `add ${(bytes / MIB).toFixed(1)} MiB, more than the ${maxMb} MiB one attempt's commit may add`,
      "DEVFLOW_MAX_COMMIT_MB",
    );
  }
}
