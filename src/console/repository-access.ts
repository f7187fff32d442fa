import { createHash } from "node:crypto";
import { ProbotOctokit } from "probot";
import { mayActHere } from "../github/may-act.ts";
import type { Registry } from "../registry/types.ts";
import type { SignedInUser } from "./github-sign-in.ts";

export interface RepositoryAccessOptions {
  /** GitHub's REST base URL, where the person's token is used. */
  baseUrl: string;
  registry: Registry;
  /** How long an answer is reused before GitHub is asked again. */
  cacheSeconds: number;
}

export interface RepositoryAccess {
  /** Whether the person can read `owner/name` (GitHub answers 404 to those who cannot). */
  /**
   * Whether `user` can read `repository`; with its GitHub id, only if the repository
   * of that name is still that one (a name freed by a rename can be taken by another).
   */
  canRead(user: SignedInUser, repository: string, repositoryId?: number | null): Promise<boolean>;
  /** Whether devflow's steering rules let the person steer runs of `repository` (write, approvers). */
  maySteer(
    user: SignedInUser,
    repository: string,
    defaultBranch: string,
  ): Promise<{ allowed: boolean; reason: string }>;
}

/**
 * What a signed-in person may see and do, asked of GitHub with their own token and
 * cached briefly per token and repository: reading is GitHub's own answer to
 * `GET /repos/{owner}/{repo}`; steering is devflow's rule (src/github/may-act.ts —
 * write access, never a bot, the config's `approvers`) with their token. Errors
 * count as "no": the console fails closed.
 */
export function createRepositoryAccess(options: RepositoryAccessOptions): RepositoryAccess {
  const cache = new Map<string, { at: number; value: Promise<unknown> }>();
  const octokits = new Map<string, ProbotOctokit>();
  const ttlMs = options.cacheSeconds * 1000;
  const tokenKey = (user: SignedInUser) =>
    createHash("sha256").update(user.token).digest("hex").slice(0, 24);
  function cached<T>(key: string, compute: () => Promise<T>): Promise<T> {
    const now = Date.now();
    const hit = cache.get(key);
    if (hit !== undefined && now - hit.at < ttlMs) return hit.value as Promise<T>;
    // Old entries go as new ones come: the map holds at most one cache life of answers.
    for (const [old, entry] of cache) if (now - entry.at >= ttlMs) cache.delete(old);
    const value = compute();
    cache.set(key, { at: now, value });
    value.catch(() => cache.delete(key));
    return value;
  }
  function octokitFor(user: SignedInUser): ProbotOctokit {
    const key = tokenKey(user);
    let octokit = octokits.get(key);
    if (octokit === undefined) {
      if (octokits.size > 1000) octokits.clear();
      octokit = new ProbotOctokit({
        auth: { token: user.token },
        baseUrl: options.baseUrl,
        // A person waits on these: no queueing behind a rate limit, no retries.
        throttle: { enabled: false },
        retry: { enabled: false },
      });
      octokits.set(key, octokit);
    }
    return octokit;
  }
  const split = (repository: string) => {
    const [owner = "", repo = ""] = repository.split("/");
    return { owner, repo };
  };
  return {
    canRead(user, repository, repositoryId) {
      const id = typeof repositoryId === "number" ? repositoryId : undefined;
      return cached(`read:${tokenKey(user)}:${repository.toLowerCase()}:${id ?? ""}`, async () => {
        try {
          const { data } = await octokitFor(user).rest.repos.get(split(repository));
          return id === undefined || data.id === id;
        } catch {
          return false;
        }
      });
    },
    maySteer(user, repository, defaultBranch) {
      return cached(
        `steer:${tokenKey(user)}:${repository.toLowerCase()}@${defaultBranch}`,
        async () => {
          try {
            return await mayActHere({
              octokit: octokitFor(user),
              ...split(repository),
              user: { login: user.login, type: "User" },
              ref: defaultBranch,
              registry: options.registry,
            });
          } catch {
            // GitHub refuses a person without push access the permission endpoint itself.
            return {
              allowed: false,
              reason: "only people with write access to this repository can steer devflow runs",
            };
          }
        },
      );
    },
  };
}
