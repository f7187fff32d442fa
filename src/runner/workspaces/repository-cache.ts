import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { DevflowError } from "../../errors.ts";
import { GIT_TIMEOUT_MS, gitEnvironment } from "./run-git.ts";

const run = promisify(execFile);

export interface RepositoryCacheOptions {
  root: string;
  remoteUrl: string;
  token?: string | undefined;
}

/** Under the lock: fetch into the cache, or make it (clone to a temporary name, then rename); git killed past its limit. */
const REFRESH = `
set -e
cache="$1"; remote="$2"; limit="$3"
if [ -f "$cache/HEAD" ]; then
  timeout -s KILL "$limit" git --git-dir "$cache" fetch --quiet --prune "$remote" '+refs/heads/*:refs/heads/*'
else
  partial="$cache.partial"
  rm -rf "$partial"
  timeout -s KILL "$limit" git clone --quiet --bare "$remote" "$partial"
  mv "$partial" "$cache"
fi
`;

/**
 * A bare copy of one repository that new run workspaces clone from, so a
 * repository is downloaded once per host rather than once per run. Every update
 * runs under flock(1) on a lock file next to the cache, across processes; the
 * cache is made under a temporary name and renamed into place, so no process
 * ever sees half a cache. Returns the cache's path.
 */
export async function refreshRepositoryCache({
  root,
  remoteUrl,
  token,
}: RepositoryCacheOptions): Promise<string> {
  const dir = join(root, "cache");
  await mkdir(dir, { recursive: true });
  const cache = join(
    dir,
    `${createHash("sha256").update(remoteUrl).digest("hex").slice(0, 24)}.git`,
  );
  const env = gitEnvironment({
    auth: token === undefined ? undefined : { url: remoteUrl, token },
  });
  try {
    await run(
      "flock",
      [
        "--wait",
        "300",
        `${cache}.lock`,
        "sh",
        "-c",
        REFRESH,
        "refresh",
        cache,
        remoteUrl,
        String(GIT_TIMEOUT_MS / 1000),
      ],
      { env, maxBuffer: 16 * 1024 * 1024 },
    );
  } catch (error) {
    throw new DevflowError(
      `could not update the cache of ${remoteUrl}: ${(error as { stderr?: string }).stderr?.trim() || (error as Error).message}`,
      {
        class: "recoverable",
        code: "repository_cache_failed",
        category: "git",
        cause: error,
      },
    );
  }
  return cache;
}
