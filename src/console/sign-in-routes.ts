import { randomBytes } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import {
  type ConsoleContext,
  OAUTH_COOKIE,
  SESSION_COOKIE,
  SESSION_SECONDS,
  type Session,
} from "./console-context.ts";
import { cookieHeader, readCookies } from "./cookies.ts";
import type { SignedInUser } from "./github-sign-in.ts";
import { constantTimeEqual, redirect, safeNext } from "./http-helpers.ts";
import { renderSignInPage } from "./pages/render-sign-in-page.ts";

/**
 * Signing in with GitHub's web flow: the sign-in page, the redirect to GitHub's
 * authorize page (with a random `state` in a sealed, short-lived cookie), and the
 * callback that checks the state, trades the code for the person's token and starts
 * a session. False for any other request.
 */
const LOOPBACK = new Set(["localhost", "127.0.0.1", "[::1]"]);

export async function handleSignIn(
  ctx: ConsoleContext,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
): Promise<boolean> {
  if (req.method !== "GET") return false;
  const signInPage = (status: number, next: string, error?: string) =>
    ctx.page(
      res,
      status,
      "Sign in",
      renderSignInPage({
        configured: ctx.signIn !== undefined,
        callbackUrl: ctx.callbackUrl(req),
        next,
        error,
      }),
    );
  if (url.pathname === "/console/sign-in") {
    signInPage(200, safeNext(url.searchParams.get("next")));
    return true;
  }
  if (url.pathname === "/console/sign-in/github") {
    if (ctx.signIn === undefined) {
      redirect(res, "/console/sign-in");
      return true;
    }
    // A session cookie carries the person's GitHub token: over plain HTTP only on
    // this machine (a reverse proxy on the same host, or a person at it).
    const callback = new URL(ctx.callbackUrl(req));
    if (callback.protocol !== "https:" && !LOOPBACK.has(callback.hostname)) {
      signInPage(
        403,
        safeNext(url.searchParams.get("next")),
        `Signing in needs HTTPS: set DEVFLOW_PUBLIC_URL to the https:// address devflow is served at (it is ${callback.origin} now).`,
      );
      return true;
    }
    const state = randomBytes(24).toString("base64url");
    const next = safeNext(url.searchParams.get("next"));
    redirect(
      res,
      ctx.signIn.authorizeUrl({ state, redirectUrl: ctx.callbackUrl(req) }),
      {
        "set-cookie": cookieHeader(OAUTH_COOKIE, ctx.oauthStates.seal({ state, next }, 600), {
          maxAgeSeconds: 600,
          secure: ctx.secure,
        }),
      },
      302,
    );
    return true;
  }
  if (url.pathname !== "/console/callback") return false;
  const expected = ctx.oauthStates.open<{ state: string; next: string }>(
    readCookies(req).get(OAUTH_COOKIE),
  );
  const code = url.searchParams.get("code");
  if (ctx.signIn === undefined) {
    signInPage(400, "/console", "Sign-in is not set up.");
    return true;
  }
  if (
    expected === undefined ||
    !constantTimeEqual(url.searchParams.get("state") ?? "", expected.state)
  ) {
    signInPage(400, "/console", "That sign-in link expired or did not start here. Sign in again.");
    return true;
  }
  if (code === null) {
    signInPage(
      400,
      expected.next,
      `GitHub did not sign you in (${url.searchParams.get("error") ?? "no code"}).`,
    );
    return true;
  }
  let user: SignedInUser;
  try {
    user = await ctx.signIn.complete({ code, redirectUrl: ctx.callbackUrl(req) });
  } catch (error) {
    ctx.log.warn({ err: error }, "console sign-in failed");
    signInPage(400, expected.next, "GitHub did not accept the sign-in. Try again.");
    return true;
  }
  const session: Session = { ...user, csrf: randomBytes(24).toString("base64url") };
  ctx.log.info({ login: user.login }, "signed in to the console");
  redirect(res, expected.next, {
    "set-cookie": [
      cookieHeader(SESSION_COOKIE, ctx.sessions.seal(session, SESSION_SECONDS), {
        maxAgeSeconds: SESSION_SECONDS,
        secure: ctx.secure,
      }),
      cookieHeader(OAUTH_COOKIE, "", { maxAgeSeconds: 0, secure: ctx.secure }),
    ],
  });
  return true;
}
