import type { ProbotOctokit } from "probot";
import type { Registry } from "../registry/types.ts";
import type { ReadCache } from "./read-cache.ts";
import { REPO_CONFIG_PATH, readRepoConfig } from "./repo-config.ts";

export interface MayActOptions {
  octokit: ProbotOctokit;
  owner: string;
  repo: string;
  user: { login: string; type?: string };
  /** The repository config's `approvers`, when it names any. */
  approvers?: string[] | undefined;
  /** Permissions (and configs) read within the cache's life are not read again. */
  cache?: ReadCache | undefined;
}

/**
 * Whether a user may start or steer runs here: write access or more, never a bot
 * (devflow's own included), and — when the repository names approvers — one of them.
 */
export async function mayAct({
  octokit,
  owner,
  repo,
  user,
  approvers,
  cache,
}: MayActOptions): Promise<{ allowed: boolean; reason: string }> {
  if (user.type === "Bot" || user.login.endsWith("[bot]"))
    return { allowed: false, reason: "bots cannot steer devflow runs" };
  // GitHub logins are case-insensitive: "Alice" in the config is @alice.
  const login = user.login.toLowerCase();
  if (
    approvers !== undefined &&
    approvers.length > 0 &&
    !approvers.some((approver) => approver.toLowerCase() === login)
  ) {
    return {
      allowed: false,
      reason: `only the approvers named in .github/devflow.yml (${approvers.join(", ")}) can steer devflow runs here`,
    };
  }
  const key = `permission:${owner}/${repo}:${login}`.toLowerCase();
  let permission = cache?.get<string>(key);
  if (permission?.fresh !== true) {
    const { data } = await octokit.rest.repos.getCollaboratorPermissionLevel({
      owner,
      repo,
      username: user.login,
    });
    cache?.set(key, data.permission);
    permission = { value: data.permission, etag: undefined, fresh: true };
  }
  const allowed = permission.value === "admin" || permission.value === "write";
  return {
    allowed,
    reason: allowed
      ? ""
      : "only people with write access to this repository can steer devflow runs",
  };
}

/**
 * `mayAct` with the approvers the repository's config names, read from its default
 * branch. It fails closed: while the config is invalid, no one steers runs here
 * (its approvers cannot be known, and dropping them would let anyone with write
 * access act). `decision` adds the config's rule for gate decisions: with
 * `requireIndependentApproval`, the person who started the run cannot approve it.
 */
export async function mayActHere(
  options: Omit<MayActOptions, "approvers"> & {
    ref: string;
    registry: Registry;
    decision?: { action: string; startedBy: string | null };
  },
): Promise<{ allowed: boolean; reason: string }> {
  const config = await readRepoConfig(options);
  if (!config.ok) {
    return {
      allowed: false,
      reason: `${REPO_CONFIG_PATH} on ${options.ref} is invalid (${config.errors.slice(0, 3).join("; ")}), and until it is fixed devflow lets no one steer runs here`,
    };
  }
  const { decision } = options;
  if (
    config.config.requireIndependentApproval === true &&
    decision?.action === "approve" &&
    decision.startedBy !== null &&
    decision.startedBy.toLowerCase() === options.user.login.toLowerCase()
  ) {
    return {
      allowed: false,
      reason:
        "this repository requires someone other than the person who started a run to approve its gates",
    };
  }
  return mayAct({ ...options, approvers: config.config.approvers });
}
