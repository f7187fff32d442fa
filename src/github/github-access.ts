import { createAppAuth } from "@octokit/auth-app";
import { request } from "@octokit/request";
import type { Probot, ProbotOctokit } from "probot";
import type { GitCredentials } from "../runner/workspaces/workspaces.ts";

export interface GitHubAccess {
  /** An Octokit acting as the installation (Probot's, with retry and throttling). */
  octokitFor(installationId: number): Promise<ProbotOctokit>;
  /** A short-lived token for git, scoped to one repository and to its contents. */
  gitToken(installationId: number, repositoryId: number | null): Promise<string>;
}

export interface GitHubAccessOptions {
  probot: Probot;
  appId: number;
  privateKey: string;
  /** api.github.com or a GitHub Enterprise Server's `/api/v3`: every call goes here, tokens included. */
  baseUrl: string;
}

/**
 * How devflow reaches GitHub as its app. Installation tokens for git are minted
 * with the configured base URL passed explicitly, so a cold token cache on GitHub
 * Enterprise Server never asks api.github.com.
 */
export function createGitHubAccess({
  probot,
  appId,
  privateKey,
  baseUrl,
}: GitHubAccessOptions): GitHubAccess {
  const auth = createAppAuth({ appId, privateKey, request: request.defaults({ baseUrl }) });
  return {
    octokitFor: (installationId) => probot.auth(installationId),
    async gitToken(installationId, repositoryId) {
      const { token } = await auth({
        type: "installation",
        installationId,
        ...(repositoryId === null ? {} : { repositoryIds: [repositoryId] }),
        permissions: { contents: "write" },
      });
      return token;
    },
  };
}

/** Git credentials for runs of an installation: its token; none for runs without one. */
export function gitCredentialsFrom(access: GitHubAccess): GitCredentials {
  return {
    tokenFor: async (run) =>
      run.installationId === null
        ? undefined
        : access.gitToken(run.installationId, run.repositoryId),
  };
}
