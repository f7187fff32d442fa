import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "pino";
import type { RouteHandler } from "../app.ts";
import type { Db } from "../db/client.ts";
import type { Engine } from "../engine/create-engine.ts";
import type { EngineLimits } from "../engine/types.ts";
import { DevflowError } from "../errors.ts";
import type { Registry } from "../registry/types.ts";
import { serveAsset } from "./console-assets.ts";
import { streamRun, streamRuns } from "./console-streams.ts";
import { cookieHeader, readCookies } from "./cookies.ts";
import { createGitHubSignIn, type SignedInUser } from "./github-sign-in.ts";
import { html, type SafeHtml } from "./html.ts";
import { readForm, redirect, safeNext, sameOrigin, sendHtml } from "./http-helpers.ts";
import { listRuns, repositoriesWithRuns } from "./list-runs.ts";
import { loadRun } from "./load-run.ts";
import { renderLayout } from "./pages/render-layout.ts";
import { renderQueuesPage } from "./pages/render-queues-page.ts";
import { renderRunLive, renderRunPage } from "./pages/render-run-page.ts";
import { renderRunsPage, renderRunsTable } from "./pages/render-runs-page.ts";
import { renderSignInPage } from "./pages/render-sign-in-page.ts";
import { chartSeries, queueOverview } from "./queue-overview.ts";
import { createRepositoryAccess } from "./repository-access.ts";
import { createCookieSealer } from "./sealed-cookie.ts";

export interface ConsoleOptions {
  db: Db;
  engine: Engine;
  registry: Registry;
  limits: EngineLimits;
  log: Logger;
  github: {
    /** GitHub's REST base URL (api.github.com or an Enterprise `/api/v3`). */
    baseUrl: string;
    /** The app's OAuth client id and secret; without them the console explains how to set them. */
    clientId?: string | undefined;
    clientSecret?: string | undefined;
  };
  /** devflow's public address (DEVFLOW_PUBLIC_URL): the callback URL and secure cookies follow it. */
  publicUrl?: string | undefined;
  /** What seals sessions; the same on every server that shares the console. */
  sessionSecret: string;
  /** How long a person's permissions are reused (60 s). */
  permissionCacheSeconds?: number;
  /** How often streams look for changes (500 ms). */
  pollMs?: number;
}

interface Session extends SignedInUser {
  csrf: string;
}

const SESSION_COOKIE = "devflow_session";
const OAUTH_COOKIE = "devflow_oauth";
const SESSION_SECONDS = 8 * 3600;

const NOTICES: Record<string, string> = {
  paused: "The run is paused.",
  resumed: "The run resumed.",
  aborted: "The run was aborted.",
  retried: "The job was queued again.",
};

/**
 * The console's session secret when DEVFLOW_CONSOLE_SECRET is unset: derived from
 * the app's private key, so every server of one devflow shares it, it survives
 * restarts, and it is as secret as the key (a new key signs everyone out).
 */
export function consoleSecretFrom(privateKey: string): string {
  return createHmac("sha256", privateKey).update("devflow-console-session").digest("hex");
}

/** GitHub's web address for a REST base URL (github.com, or the Enterprise host). */
export function githubWebUrl(baseUrl: string): string {
  return /^https:\/\/api\.github\.com\/?$/.test(baseUrl)
    ? "https://github.com"
    : baseUrl.replace(/\/api\/v3\/?$/, "");
}

/**
 * devflow's web console under /console: runs, a run with its agent sessions (live),
 * queues and workers, and the operator's actions. Every page, fragment and stream
 * needs a session from signing in with GitHub; every run is shown only to people
 * who can read its repository, and steered only by people devflow's rules allow,
 * both asked of GitHub with the person's own token. Every form carries the
 * session's CSRF token and must come from the console's own origin.
 */
export function createConsole(options: ConsoleOptions): RouteHandler {
  const { db, engine, log } = options;
  const secure = options.publicUrl?.startsWith("https://") === true;
  const sessions = createCookieSealer({ secret: options.sessionSecret, purpose: "session" });
  const oauthStates = createCookieSealer({ secret: options.sessionSecret, purpose: "oauth" });
  const { clientId, clientSecret } = options.github;
  const signIn =
    clientId === undefined || clientSecret === undefined
      ? undefined
      : createGitHubSignIn({ clientId, clientSecret, baseUrl: options.github.baseUrl });
  const access = createRepositoryAccess({
    baseUrl: options.github.baseUrl,
    registry: options.registry,
    cacheSeconds: options.permissionCacheSeconds ?? 60,
  });
  const webUrl = githubWebUrl(options.github.baseUrl);
  const pollMs = options.pollMs ?? 500;

  const origin = (req: IncomingMessage) =>
    (options.publicUrl ?? `http://${req.headers.host ?? "localhost"}`).replace(/\/$/, "");
  const callbackUrl = (req: IncomingMessage) => `${origin(req)}/console/callback`;

  const page = (
    res: ServerResponse,
    status: number,
    title: string,
    body: SafeHtml,
    session?: Session,
    extra: Partial<Parameters<typeof renderLayout>[0]> = {},
  ) =>
    sendHtml(
      res,
      status,
      renderLayout({
        title,
        body,
        user: session === undefined ? undefined : { login: session.login, csrf: session.csrf },
        ...extra,
      }),
    );
  const message = (
    res: ServerResponse,
    status: number,
    title: string,
    text: string,
    session?: Session,
  ) =>
    page(
      res,
      status,
      title,
      html`<h1>${title}</h1><p class="refusal" role="alert">${text}</p><p><a href="/console">Back to the runs</a></p>`,
      session,
    );

  /** A stream outlives neither the session it was opened with nor its expiry. */
  const sessionStillValid = (req: IncomingMessage) =>
    sessions.open<Session>(readCookies(req).get(SESSION_COOKIE)) !== undefined;

  async function readable(session: Session): Promise<string[]> {
    const all = await repositoriesWithRuns(db);
    const allowed = await Promise.all(all.map((repository) => access.canRead(session, repository)));
    return all.filter((_, index) => allowed[index]);
  }

  /** The run, when it exists and the person can read its repository. */
  async function readableRun(session: Session, runId: string) {
    if (!/^[0-9a-f-]{36}$/i.test(runId)) return null;
    const run = await engine.getRun(runId);
    if (run === null || !(await access.canRead(session, run.repository))) return null;
    return run;
  }

  async function signInRoutes(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
  ): Promise<boolean> {
    if (req.method === "GET" && url.pathname === "/console/sign-in") {
      page(
        res,
        200,
        "Sign in",
        renderSignInPage({
          configured: signIn !== undefined,
          callbackUrl: callbackUrl(req),
          next: safeNext(url.searchParams.get("next")),
        }),
      );
      return true;
    }
    if (req.method === "GET" && url.pathname === "/console/sign-in/github") {
      if (signIn === undefined) {
        redirect(res, "/console/sign-in");
        return true;
      }
      const state = randomBytes(24).toString("base64url");
      const next = safeNext(url.searchParams.get("next"));
      redirect(
        res,
        signIn.authorizeUrl({ state, redirectUrl: callbackUrl(req) }),
        {
          "set-cookie": cookieHeader(OAUTH_COOKIE, oauthStates.seal({ state, next }, 600), {
            maxAgeSeconds: 600,
            secure,
          }),
        },
        302,
      );
      return true;
    }
    if (req.method === "GET" && url.pathname === "/console/callback") {
      const expected = oauthStates.open<{ state: string; next: string }>(
        readCookies(req).get(OAUTH_COOKIE),
      );
      const state = url.searchParams.get("state") ?? "";
      const code = url.searchParams.get("code");
      const failed = (error: string) =>
        sendHtml(
          res,
          400,
          renderLayout({
            title: "Sign in",
            body: renderSignInPage({
              configured: signIn !== undefined,
              callbackUrl: callbackUrl(req),
              next: "/console",
              error,
            }),
          }),
        );
      if (signIn === undefined) {
        failed("Sign-in is not set up.");
        return true;
      }
      if (
        expected === undefined ||
        state.length !== expected.state.length ||
        !timingSafeEqual(Buffer.from(state), Buffer.from(expected.state))
      ) {
        failed("That sign-in link expired or did not start here. Sign in again.");
        return true;
      }
      if (code === null) {
        failed(`GitHub did not sign you in (${url.searchParams.get("error") ?? "no code"}).`);
        return true;
      }
      let user: SignedInUser;
      try {
        user = await signIn.complete({ code, redirectUrl: callbackUrl(req) });
      } catch (error) {
        log.warn({ err: error }, "console sign-in failed");
        failed("GitHub did not accept the sign-in. Try again.");
        return true;
      }
      const session: Session = { ...user, csrf: randomBytes(24).toString("base64url") };
      log.info({ login: user.login }, "signed in to the console");
      redirect(res, expected.next, {
        "set-cookie": [
          cookieHeader(SESSION_COOKIE, sessions.seal(session, SESSION_SECONDS), {
            maxAgeSeconds: SESSION_SECONDS,
            secure,
          }),
          cookieHeader(OAUTH_COOKIE, "", { maxAgeSeconds: 0, secure }),
        ],
      });
      return true;
    }
    return false;
  }

  function validForm(
    session: Session,
    req: IncomingMessage,
    form: URLSearchParams | undefined,
  ): boolean {
    const token = form?.get("csrf") ?? "";
    return (
      sameOrigin(req) &&
      token.length === session.csrf.length &&
      timingSafeEqual(Buffer.from(token), Buffer.from(session.csrf))
    );
  }

  async function steer(
    session: Session,
    req: IncomingMessage,
    res: ServerResponse,
    runId: string,
    action: "pause" | "resume" | "abort",
  ): Promise<void> {
    const form = await readForm(req);
    if (!validForm(session, req, form)) {
      message(
        res,
        403,
        "Refused",
        "This form expired or did not come from this console: reload the page and try again.",
        session,
      );
      return;
    }
    const run = await readableRun(session, runId);
    if (run === null) {
      message(
        res,
        404,
        "No such run",
        "There is no such run, or you cannot read its repository.",
        session,
      );
      return;
    }
    const may = await access.maySteer(session, run.repository, run.baseBranch);
    if (!may.allowed) {
      log.info({ runId, login: session.login, action }, "console action refused");
      message(res, 403, "Refused", `You may not ${action} this run: ${may.reason}.`, session);
      return;
    }
    try {
      if (action === "pause")
        await engine.pauseRun({ runId, actor: session.login, reason: "paused from the console" });
      else if (action === "resume") await engine.resumeRun({ runId, actor: session.login });
      else
        await engine.abortRun({
          runId,
          actor: session.login,
          reason: form?.get("reason")?.trim().slice(0, 500) || "aborted from the console",
        });
    } catch (error) {
      if (error instanceof DevflowError && error.class === "human") {
        message(res, 409, "Not now", error.message, session);
        return;
      }
      throw error;
    }
    log.info({ runId, login: session.login, action }, "run steered from the console");
    redirect(res, `/console/runs/${runId}?notice=${action === "abort" ? "aborted" : `${action}d`}`);
  }

  async function retryJob(
    session: Session,
    req: IncomingMessage,
    res: ServerResponse,
    jobId: string,
  ): Promise<void> {
    const form = await readForm(req);
    if (!validForm(session, req, form)) {
      message(
        res,
        403,
        "Refused",
        "This form expired or did not come from this console: reload the page and try again.",
        session,
      );
      return;
    }
    const [job] = await engine.listFailedJobs({ ids: [jobId] });
    const run = job?.runId == null ? null : await readableRun(session, job.runId);
    if (job === undefined || run === null) {
      message(
        res,
        404,
        "No such job",
        "There is no such failed job of a run you can read.",
        session,
      );
      return;
    }
    const may = await access.maySteer(session, run.repository, run.baseBranch);
    if (!may.allowed) {
      message(res, 403, "Refused", `You may not retry this run's jobs: ${may.reason}.`, session);
      return;
    }
    await engine.retryFailedJobs([job.id]);
    log.info({ jobId, runId: run.id, login: session.login }, "failed job retried from the console");
    redirect(res, "/console/queues?notice=retried");
  }

  async function signedIn(
    session: Session,
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
  ): Promise<boolean> {
    const path = url.pathname.replace(/\/$/, "") || "/console";
    const now = new Date();
    const notice = NOTICES[url.searchParams.get("notice") ?? ""];
    if (req.method === "POST") {
      if (path === "/console/sign-out") {
        const form = await readForm(req);
        if (!validForm(session, req, form)) {
          message(
            res,
            403,
            "Refused",
            "This form expired: reload the page and try again.",
            session,
          );
          return true;
        }
        redirect(res, "/console/sign-in", {
          "set-cookie": cookieHeader(SESSION_COOKIE, "", { maxAgeSeconds: 0, secure }),
        });
        return true;
      }
      const action = /^\/console\/runs\/([^/]+)\/(pause|resume|abort)$/.exec(path);
      if (action !== null) {
        await steer(session, req, res, action[1] ?? "", action[2] as "pause" | "resume" | "abort");
        return true;
      }
      const retry = /^\/console\/jobs\/([^/]+)\/retry$/.exec(path);
      if (retry !== null) {
        await retryJob(session, req, res, retry[1] ?? "");
        return true;
      }
      return false;
    }
    if (req.method !== "GET") return false;
    if (path === "/console") {
      const repositories = await readable(session);
      const state = url.searchParams.get("state") || undefined;
      const repository = url.searchParams.get("repository") || undefined;
      const runs = await listRuns({ db, repositories, state, repository });
      const view = { runs, repositories, state, repository, now };
      if (url.searchParams.get("fragment") === "runs") {
        sendHtml(res, 200, renderRunsTable(view));
        return true;
      }
      page(res, 200, "Runs", renderRunsPage(view), session, { active: "runs" });
      return true;
    }
    if (path === "/console/queues") {
      const repositories = await readable(session);
      const readableSet = new Set(repositories);
      const [overview, charts, failedJobs] = await Promise.all([
        queueOverview(db, options.limits, repositories),
        chartSeries(db, repositories),
        engine.listFailedJobs({ limit: 200 }),
      ]);
      const failed = [];
      for (const job of failedJobs) {
        const run = job.runId === null ? null : await engine.getRun(job.runId);
        if (run === null || !readableSet.has(run.repository)) continue;
        const may = await access.maySteer(session, run.repository, run.baseBranch);
        failed.push({ job, mayRetry: may.allowed });
      }
      page(
        res,
        200,
        "Queues",
        renderQueuesPage({ overview, charts, failed, csrf: session.csrf, notice, now }),
        session,
        {
          active: "queues",
          scripts: ["/console/assets/uplot.js"],
          styles: ["/console/assets/uplot.css"],
        },
      );
      return true;
    }
    const runPath = /^\/console\/runs\/([^/]+)$/.exec(path);
    if (runPath !== null) {
      const run = await readableRun(session, runPath[1] ?? "");
      const view = run === null ? null : await loadRun(db, engine, run.id);
      if (run === null || view === null) {
        message(
          res,
          404,
          "No such run",
          "There is no such run, or you cannot read its repository.",
          session,
        );
        return true;
      }
      const steerAnswer = await access.maySteer(session, run.repository, run.baseBranch);
      const options = { view, webUrl, steer: steerAnswer, csrf: session.csrf, notice, now };
      if (url.searchParams.get("fragment") === "live") {
        sendHtml(res, 200, renderRunLive(options));
        return true;
      }
      page(res, 200, `${run.repository}#${run.issueNumber}`, renderRunPage(options), session, {
        active: "runs",
      });
      return true;
    }
    if (path === "/console/stream/runs") {
      const all = await readable(session);
      const repository = url.searchParams.get("repository") || undefined;
      const repositories =
        repository === undefined ? all : all.filter((name) => name === repository);
      await streamRuns({
        req,
        res,
        db,
        log,
        pollMs: pollMs * 2,
        repositories,
        stillAllowed: async () => sessionStillValid(req),
      });
      return true;
    }
    const runStream = /^\/console\/stream\/runs\/([^/]+)$/.exec(path);
    if (runStream !== null) {
      const run = await readableRun(session, runStream[1] ?? "");
      if (run === null) {
        res.writeHead(404).end();
        return true;
      }
      const have = new Map<string, number>();
      for (const entry of (url.searchParams.get("have") ?? "").split(",")) {
        const [id, length] = entry.split(":");
        if (id !== undefined && /^[0-9a-f-]{36}$/i.test(id) && Number.isInteger(Number(length)))
          have.set(id, Number(length));
      }
      await streamRun({
        req,
        res,
        db,
        log,
        pollMs,
        runId: run.id,
        have,
        seq: /^\d+$/.test(url.searchParams.get("seq") ?? "")
          ? Number(url.searchParams.get("seq"))
          : undefined,
        stillAllowed: async () =>
          sessionStillValid(req) && (await access.canRead(session, run.repository)),
      });
      return true;
    }
    return false;
  }

  return async (req, res) => {
    const url = new URL(req.url ?? "/", "http://console.invalid");
    if (url.pathname !== "/console" && !url.pathname.startsWith("/console/")) return false;
    const asset = /^\/console\/assets\/([a-z.]+)$/.exec(url.pathname);
    if (asset !== null && req.method === "GET") {
      if (await serveAsset(res, asset[1] ?? "")) return true;
    }
    if (await signInRoutes(req, res, url)) return true;
    const session = sessions.open<Session>(readCookies(req).get(SESSION_COOKIE));
    if (session === undefined) {
      // No page, fragment, stream or action without a session.
      if (
        req.method === "GET" &&
        !url.pathname.startsWith("/console/stream/") &&
        !url.searchParams.has("fragment")
      ) {
        redirect(
          res,
          `/console/sign-in?next=${encodeURIComponent(url.pathname + url.search)}`,
          {},
          302,
        );
      } else {
        res
          .writeHead(401, { "content-type": "text/plain; charset=utf-8" })
          .end("sign in at /console/sign-in\n");
      }
      return true;
    }
    if (await signedIn(session, req, res, url)) return true;
    message(res, 404, "Not found", "There is no such page in the console.", session);
    return true;
  };
}
