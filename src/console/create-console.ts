import { createHmac } from "node:crypto";
import type { RouteHandler } from "../github/route-handler.ts";
import { handleAction } from "./console-actions.ts";
import { serveAsset } from "./console-assets.ts";
import { type ConsoleOptions, createConsoleContext } from "./console-context.ts";
import { handlePage } from "./console-pages.ts";
import { redirect } from "./http-helpers.ts";
import { handleSignIn } from "./sign-in-routes.ts";

export { type ConsoleOptions, githubWebUrl } from "./console-context.ts";

/**
 * The console's session secret when DEVFLOW_CONSOLE_SECRET is unset: derived from
 * the app's private key, so every server of one devflow shares it, it survives
 * restarts, and it is as secret as the key (a new key signs everyone out).
 */
export function consoleSecretFrom(privateKey: string): string {
  return createHmac("sha256", privateKey).update("devflow-console-session").digest("hex");
}

/**
 * devflow's web console under /console: runs, a run with its agent sessions (live),
 * queues and workers, and the operator's actions (docs/console.md). Every page,
 * fragment, stream and action needs a session from signing in with GitHub; every
 * run is shown only to people who can read its repository, and steered only by
 * people devflow's rules allow, both asked of GitHub with the person's own token.
 *
 * @example
 * const console = createConsole({ db, engine, registry, limits, log, github, sessionSecret });
 * startGitHubServer({ ..., console });
 */
export function createConsole(options: ConsoleOptions): RouteHandler {
  const ctx = createConsoleContext(options);
  return async (req, res) => {
    const url = new URL(req.url ?? "/", "http://console.invalid");
    if (url.pathname !== "/console" && !url.pathname.startsWith("/console/")) return false;
    const asset = /^\/console\/assets\/([a-z.]+)$/.exec(url.pathname);
    if (asset !== null && req.method === "GET" && (await serveAsset(res, asset[1] ?? "")))
      return true;
    if (await handleSignIn(ctx, req, res, url)) return true;
    const session = ctx.sessionOf(req);
    if (session === undefined) {
      // No page, fragment, stream or action without a session: a page leads to signing in.
      const isPage =
        req.method === "GET" &&
        !url.pathname.startsWith("/console/stream/") &&
        !url.searchParams.has("fragment");
      if (isPage)
        redirect(
          res,
          `/console/sign-in?next=${encodeURIComponent(url.pathname + url.search)}`,
          {},
          302,
        );
      else
        res
          .writeHead(401, { "content-type": "text/plain; charset=utf-8" })
          .end("sign in at /console/sign-in\n");
      return true;
    }
    const path = url.pathname.replace(/\/$/, "") || "/console";
    if (await handleAction(ctx, session, req, res, path)) return true;
    if (await handlePage(ctx, session, req, res, url, path)) return true;
    ctx.message(res, 404, "Not found", "There is no such page in the console.", session);
    return true;
  };
}
