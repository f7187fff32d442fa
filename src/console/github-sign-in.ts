import { exchangeWebFlowCode, getWebFlowAuthorizationUrl } from "@octokit/oauth-methods";
import { request } from "@octokit/request";

/** The app's own OAuth credentials (its client id and secret) and GitHub's REST base URL. */
export interface OAuthApp {
  clientId: string;
  clientSecret: string;
  /** api.github.com, or a GitHub Enterprise `/api/v3` URL: sign-in pages are on its web host. */
  baseUrl: string;
}

/** Who signed in: their login and their user-to-server token. */
export interface SignedInUser {
  login: string;
  id: number;
  token: string;
}

export interface GitHubSignIn {
  /** Where to send the browser: GitHub's authorize page for this app. */
  authorizeUrl(options: { state: string; redirectUrl: string }): string;
  /** Trades the code GitHub's redirect brought for the person's token, and asks GitHub who they are. */
  complete(options: { code: string; redirectUrl: string }): Promise<SignedInUser>;
}

/**
 * GitHub's web flow for the app's user-to-server tokens, through
 * @octokit/oauth-methods (the same library Octokit's own OAuth app uses). The
 * token acts for the person, within what both they and the app may see.
 */
export function createGitHubSignIn(app: OAuthApp): GitHubSignIn {
  const requestWithBase = request.defaults({
    baseUrl: app.baseUrl,
    headers: { "user-agent": "devflow-console" },
  });
  return {
    authorizeUrl({ state, redirectUrl }) {
      return getWebFlowAuthorizationUrl({
        clientType: "github-app",
        clientId: app.clientId,
        redirectUrl,
        state,
        request: requestWithBase,
      }).url;
    },
    async complete({ code, redirectUrl }) {
      const { authentication } = await exchangeWebFlowCode({
        clientType: "github-app",
        clientId: app.clientId,
        clientSecret: app.clientSecret,
        code,
        redirectUrl,
        request: requestWithBase,
      });
      const { data } = await requestWithBase("GET /user", {
        headers: { authorization: `token ${authentication.token}` },
      });
      return { login: data.login, id: Number(data.id), token: authentication.token };
    },
  };
}
