import type { ProbotOctokit } from "probot";
import { parse as parseYaml } from "yaml";
import type { Registry } from "../registry/types.ts";
import type { ReadCache } from "./read-cache.ts";

/** The shape of `schemas/config/repo@1.schema.json`. */
export interface RepoConfig {
  template?: string;
  labels?: { start?: string };
  approvers?: string[];
  requireIndependentApproval?: boolean;
  agent?: string;
  budgets?: { costUsdPerRun?: number };
  caps?: { activeRuns?: number };
  gates?: { implementation?: boolean };
  artifacts?: { keepInTree?: boolean };
}

export const REPO_CONFIG_PATH = ".github/devflow.yml";

export type RepoConfigResult = { ok: true; config: RepoConfig } | { ok: false; errors: string[] };

/** The cache key of a repository's config on `ref`. */
export const configKey = (owner: string, repo: string, ref: string) =>
  `config:${owner}/${repo}@${ref}`.toLowerCase();

/**
 * Reads `.github/devflow.yml` from the default branch (never from a run branch an
 * agent could write), validated against config/repo@1. No file is an empty config.
 * With a cache, a config read within its life is not read again, and an older one
 * is asked for with its ETag (GitHub answers 304, free of rate limit, when it did
 * not change).
 */
export async function readRepoConfig(options: {
  octokit: ProbotOctokit;
  owner: string;
  repo: string;
  ref: string;
  registry: Registry;
  cache?: ReadCache | undefined;
}): Promise<RepoConfigResult> {
  const key = configKey(options.owner, options.repo, options.ref);
  const cached = options.cache?.get<RepoConfigResult>(key);
  if (cached?.fresh === true) return cached.value;
  let text: string;
  try {
    const { data, headers } = await options.octokit.rest.repos.getContent({
      owner: options.owner,
      repo: options.repo,
      path: REPO_CONFIG_PATH,
      ref: options.ref,
      ...(cached?.etag === undefined ? {} : { headers: { "if-none-match": cached.etag } }),
    });
    if (Array.isArray(data) || data.type !== "file" || !("content" in data))
      return remember(options.cache, key, {
        ok: false,
        errors: [`${REPO_CONFIG_PATH} is not a file`],
      });
    text = Buffer.from(data.content, "base64").toString("utf8");
    return remember(options.cache, key, parseConfig(text, options.registry), headers.etag);
  } catch (error) {
    const status = (error as { status?: number }).status;
    if (status === 304 && cached !== undefined) {
      options.cache?.touch(key);
      return cached.value;
    }
    if (status === 404) return remember(options.cache, key, { ok: true, config: {} });
    throw error;
  }
}

function remember(
  cache: ReadCache | undefined,
  key: string,
  result: RepoConfigResult,
  etag?: string,
): RepoConfigResult {
  cache?.set(key, result, etag);
  return result;
}

function parseConfig(text: string, registry: Registry): RepoConfigResult {
  let parsed: unknown;
  try {
    parsed = parseYaml(text) ?? {};
  } catch (error) {
    return { ok: false, errors: [`not valid YAML: ${(error as Error).message.split("\n")[0]}`] };
  }
  const result = registry.validate("config/repo@1", parsed);
  return result.ok
    ? { ok: true, config: parsed as RepoConfig }
    : { ok: false, errors: result.errors };
}
