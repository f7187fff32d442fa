import { createAppAuth } from "@octokit/auth-app";
import type { Check } from "./check.ts";

export interface AskGitHubOptions {
  appId: number;
  privateKey: string;
  /** The REST API's root: https://api.github.com, or a GitHub Enterprise Server's /api/v3. */
  baseUrl: string;
}

/** GET /app as the app: proves the key belongs to the app id and GitHub is reachable. */
export async function askGitHub({ appId, privateKey, baseUrl }: AskGitHubOptions): Promise<Check> {
  try {
    const { token } = await createAppAuth({ appId, privateKey })({ type: "app" });
    const response = await fetch(`${baseUrl}/app`, {
      headers: { authorization: `Bearer ${token}`, accept: "application/vnd.github+json" },
      signal: AbortSignal.timeout(10_000),
    });
    if (response.ok) {
      const app = (await response.json()) as { slug?: string; installations_count?: number };
      return {
        name: "GitHub",
        status: "ok",
        detail: `${baseUrl} accepts the key: app ${app.slug ?? appId}, ${app.installations_count ?? "?"} installations`,
      };
    }
    return {
      name: "GitHub",
      status: "fail",
      detail: `${baseUrl}/app answered ${response.status}: GitHub does not accept this key for app ${appId}`,
      fix: "check that APP_ID and the private key belong to the same app, and that the machine's clock is right (the key signs a token valid for minutes)",
    };
  } catch (error) {
    return {
      name: "GitHub",
      status: "warn",
      detail: `could not reach ${baseUrl}: ${(error as Error).message}`,
      fix: "devflow needs HTTPS to the GitHub API; for GitHub Enterprise Server set GHE_HOST (and GHE_PROTOCOL); or run doctor --offline",
    };
  }
}
