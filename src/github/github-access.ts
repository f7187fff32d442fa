import { createAppAuth } from "@octokit/auth-app";
import { request } from "@octokit/request";
import type { Probot, ProbotOctokit } from "probot";
import type { Metrics } from "../observability/metrics.ts";
import type { GitCredentials } from "../runner/workspaces/workspaces.ts";
import type { Secrets } from "../security/secrets.ts";
import { createReadCache, noReadCache, type ReadCache } from "./read-cache.ts";
import { createWritePacer, type WritePacer } from "./write-pacer.ts";

export interface GitHubAccess {
  /** An Octokit acting as the installation (Probot's, with retry and throttling). */
  octokitFor(installationId: number): Promise<ProbotOctokit>;
  /** An Octokit acting as the app itself (a JWT): its webhook deliveries, its installations. */
  appOctokit(): Promise<ProbotOctokit>;
  /** A short-lived token for git, scoped to one repository and to its contents. */
  gitToken(installationId: number, repositoryId: number | null): Promise<string>;
  /** Repository configs and permissions read a moment ago (read-cache.ts). */
  readCache: ReadCache;
}

export interface GitHubAccessOptions {
  probot: Probot;
  appId: number;
  privateKey: string;
  /** api.github.com or a GitHub Enterprise Server's `/api/v3`: every call goes here, tokens included. */
  baseUrl: string;
  /** Counts every REST call and keeps the rate limit GitHub reports. */
  metrics?: Metrics | undefined;
  /** Learns each installation token, and redacts every protected value from what devflow sends. */
  secrets?: Secrets | undefined;
  /** How long a config or permission read is used again (60 s; 0 reads every time). */
  readCacheSeconds?: number | undefined;
  /** Paces each installation's writes (a burst of 5, then one a second). */
  pacer?: WritePacer | undefined;
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
  metrics,
  secrets,
  readCacheSeconds = 60,
  pacer = createWritePacer(),
}: GitHubAccessOptions): GitHubAccess {
  const auth = createAppAuth({ appId, privateKey, request: request.defaults({ baseUrl }) });
  const instrumented = new WeakSet<object>();
  return {
    readCache:
      readCacheSeconds > 0 ? createReadCache({ lifeMs: readCacheSeconds * 1000 }) : noReadCache,
    async octokitFor(installationId) {
      const octokit = await probot.auth(installationId);
      pace(octokit, installationId, pacer);
      if (metrics !== undefined) instrument(octokit, metrics);
      if (secrets !== undefined) redactRequests(octokit, secrets);
      return octokit;
    },
    async appOctokit() {
      // Probot hands out one app Octokit: instrument it once, not at every call.
      const octokit = await probot.auth();
      if (metrics !== undefined && !instrumented.has(octokit)) {
        instrumented.add(octokit);
        instrument(octokit, metrics);
      }
      return octokit;
    },
    async gitToken(installationId, repositoryId) {
      const { token } = await auth({
        type: "installation",
        installationId,
        ...(repositoryId === null ? {} : { repositoryIds: [repositoryId] }),
        permissions: { contents: "write" },
      });
      secrets?.add("an installation token", token);
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

/** What a person waits for: the 👀 reaction and the draft pull request go first. */
const URGENT = /^POST \/repos\/[^/]+\/[^/]+\/(issues\/[^/]+\/reactions|pulls)$/;

/** Holds each write (GraphQL included) of `octokit` until the pacer lets it go. */
function pace(octokit: ProbotOctokit, installationId: number, pacer: WritePacer): void {
  octokit.hook.wrap("request", async (request, options) => {
    const method = String(options.method ?? "GET");
    const path = new URL(String(options.url), "http://github.test").pathname;
    if (method !== "GET" && method !== "HEAD" && !path.endsWith("/access_tokens")) {
      const route = `${method} ${String(options.url).split("?")[0]}`;
      await pacer.take(installationId, URGENT.test(route));
    }
    return request(options);
  });
}

/** Reports each REST call of `octokit` (after Probot's retries) and its rate-limit headers. */
function instrument(octokit: ProbotOctokit, metrics: Metrics): void {
  const observe = (method: string, status: number, headers: ResponseHeaders | undefined) => {
    const remaining = Number(headers?.["x-ratelimit-remaining"]);
    const limit = Number(headers?.["x-ratelimit-limit"]);
    const resource = headers?.["x-ratelimit-resource"];
    metrics.observeGitHubRequest({
      method,
      status,
      ...(Number.isFinite(remaining) && Number.isFinite(limit)
        ? {
            rateLimit: {
              resource: typeof resource === "string" ? resource : "core",
              remaining,
              limit,
            },
          }
        : {}),
    });
  };
  octokit.hook.wrap("request", async (request, options) => {
    const method = String(options.method ?? "GET");
    try {
      const response = await request(options);
      observe(method, response.status, response.headers);
      return response;
    } catch (error) {
      const failed = error as { status?: number; response?: { headers?: ResponseHeaders } };
      observe(method, failed.status ?? 0, failed.response?.headers);
      throw error;
    }
  });
}

/** Request options that are not text devflow publishes. */
const TRANSPORT = new Set(["method", "url", "baseUrl", "headers", "request", "mediaType"]);

function redactValue(value: unknown, secrets: Secrets): unknown {
  if (typeof value === "string") return secrets.redact(value);
  if (Array.isArray(value)) return value.map((item) => redactValue(item, secrets));
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [key, redactValue(item, secrets)]),
    );
  }
  return value;
}

/**
 * The last line of defence: every comment, check run, pull request body or title
 * devflow sends has the values it protects replaced by `[redacted …]`. (What an
 * agent produced was scanned before it was committed; this covers everything else.)
 */
function redactRequests(octokit: ProbotOctokit, secrets: Secrets): void {
  octokit.hook.before("request", (options) => {
    for (const [key, value] of Object.entries(options)) {
      if (!TRANSPORT.has(key))
        (options as Record<string, unknown>)[key] = redactValue(value, secrets);
    }
  });
}

type ResponseHeaders = Record<string, string | number | undefined>;
