import type { ProbotOctokit } from "probot";
import { parse as parseYaml } from "yaml";
import type { Registry } from "../registry/types.ts";

/** The shape of `schemas/config/repo@1.schema.json`. */
export interface RepoConfig {
  template?: string;
  labels?: { start?: string };
  approvers?: string[];
  requireIndependentApproval?: boolean;
  agent?: string;
  budgets?: { costUsdPerRun?: number };
  caps?: { activeRuns?: number };
}

export const REPO_CONFIG_PATH = ".github/devflow.yml";

export type RepoConfigResult = { ok: true; config: RepoConfig } | { ok: false; errors: string[] };

/**
 * Reads `.github/devflow.yml` from the default branch (never from a run branch an
 * agent could write), validated against config/repo@1. No file is an empty config.
 */
export async function readRepoConfig(options: {
  octokit: ProbotOctokit;
  owner: string;
  repo: string;
  ref: string;
  registry: Registry;
}): Promise<RepoConfigResult> {
  let text: string;
  try {
    const { data } = await options.octokit.rest.repos.getContent({
      owner: options.owner,
      repo: options.repo,
      path: REPO_CONFIG_PATH,
      ref: options.ref,
    });
    if (Array.isArray(data) || data.type !== "file" || !("content" in data))
      return { ok: false, errors: [`${REPO_CONFIG_PATH} is not a file`] };
    text = Buffer.from(data.content, "base64").toString("utf8");
  } catch (error) {
    if ((error as { status?: number }).status === 404) return { ok: true, config: {} };
    throw error;
  }
  let parsed: unknown;
  try {
    parsed = parseYaml(text) ?? {};
  } catch (error) {
    return { ok: false, errors: [`not valid YAML: ${(error as Error).message.split("\n")[0]}`] };
  }
  const result = options.registry.validate("config/repo@1", parsed);
  return result.ok
    ? { ok: true, config: parsed as RepoConfig }
    : { ok: false, errors: result.errors };
}
