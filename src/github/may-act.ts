import type { ProbotOctokit } from "probot";
import type { Registry } from "../registry/types.ts";
import { readRepoConfig } from "./repo-config.ts";

export interface MayActOptions {
  octokit: ProbotOctokit;
  owner: string;
  repo: string;
  user: { login: string; type?: string };
  /** The repository config's `approvers`, when it names any. */
  approvers?: string[] | undefined;
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
}: MayActOptions): Promise<{ allowed: boolean; reason: string }> {
  if (user.type === "Bot" || user.login.endsWith("[bot]"))
    return { allowed: false, reason: "bots cannot steer devflow runs" };
  if (approvers !== undefined && approvers.length > 0 && !approvers.includes(user.login)) {
    return {
      allowed: false,
      reason: `only the approvers named in .github/devflow.yml (${approvers.join(", ")}) can steer devflow runs here`,
    };
  }
  const { data } = await octokit.rest.repos.getCollaboratorPermissionLevel({
    owner,
    repo,
    username: user.login,
  });
  const allowed = data.permission === "admin" || data.permission === "write";
  return {
    allowed,
    reason: allowed
      ? ""
      : "only people with write access to this repository can steer devflow runs",
  };
}

/**
 * `mayAct` with the approvers the repository's config names, read from its default
 * branch. An invalid config names no approvers: write access alone decides.
 */
export async function mayActHere(
  options: Omit<MayActOptions, "approvers"> & { ref: string; registry: Registry },
): Promise<{ allowed: boolean; reason: string }> {
  const config = await readRepoConfig(options);
  return mayAct({ ...options, approvers: config.ok ? config.config.approvers : undefined });
}
