import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "pino";
import type { Db } from "../db/client.ts";
import type { RunRow } from "../db/rows.ts";
import type { Engine } from "../engine/create-engine.ts";
import type { EngineLimits } from "../engine/types.ts";
import type { Registry } from "../registry/types.ts";
import { readCookies } from "./cookies.ts";
import { createGitHubSignIn, type GitHubSignIn, type SignedInUser } from "./github-sign-in.ts";
import { html, type SafeHtml } from "./html.ts";
import { constantTimeEqual, sameOrigin, sendHtml } from "./http-helpers.ts";
import { repositoriesWithRuns } from "./list-runs.ts";
import { type LayoutOptions, renderLayout } from "./pages/render-layout.ts";
import { createRepositoryAccess, type RepositoryAccess } from "./repository-access.ts";
import { type CookieSealer, createCookieSealer } from "./sealed-cookie.ts";

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

/** A signed-in person: who they are, their GitHub token, and the token their forms carry. */
export interface Session extends SignedInUser {
  csrf: string;
}

export const SESSION_COOKIE = "devflow_session";
export const OAUTH_COOKIE = "devflow_oauth";
export const SESSION_SECONDS = 8 * 3600;

/** What the console's routes share: its dependencies and the checks every route makes. */
export interface ConsoleContext {
  db: Db;
  engine: Engine;
  log: Logger;
  limits: EngineLimits;
  access: RepositoryAccess;
  sessions: CookieSealer;
  oauthStates: CookieSealer;
  /** Undefined until the app's OAuth credentials are set. */
  signIn: GitHubSignIn | undefined;
  /** Cookies are `Secure` (the console is served over https). */
  secure: boolean;
  /** GitHub's web address, for links to issues, pull requests and branches. */
  webUrl: string;
  pollMs: number;
  callbackUrl(req: IncomingMessage): string;
  page(
    res: ServerResponse,
    status: number,
    title: string,
    body: SafeHtml,
    session?: Session,
    extra?: Partial<LayoutOptions>,
  ): void;
  /** A page that says one thing: a refusal, a conflict, a missing run. */
  message(
    res: ServerResponse,
    status: number,
    title: string,
    text: string,
    session?: Session,
  ): void;
  /** 404 for a run that does not exist or that the person cannot read: the same answer for both. */
  noSuchRun(res: ServerResponse, session: Session): void;
  /** The request's session, or undefined (none, forged, expired). */
  sessionOf(req: IncomingMessage): Session | undefined;
  /** The repositories with runs that the person can read. */
  readable(session: Session): Promise<string[]>;
  /** The run, when it exists and the person can read its repository. */
  readableRun(session: Session, runId: string): Promise<RunRow | null>;
  /** Whether a form came from the console's own page in this session (origin and CSRF token). */
  validForm(session: Session, req: IncomingMessage, form: URLSearchParams | undefined): boolean;
}

/** GitHub's web address for a REST base URL (github.com, or the Enterprise host). */
export function githubWebUrl(baseUrl: string): string {
  return /^https:\/\/api\.github\.com\/?$/.test(baseUrl)
    ? "https://github.com"
    : baseUrl.replace(/\/api\/v3\/?$/, "");
}

export function createConsoleContext(options: ConsoleOptions): ConsoleContext {
  const { db, engine } = options;
  const { clientId, clientSecret } = options.github;
  const sessions = createCookieSealer({ secret: options.sessionSecret, purpose: "session" });
  const access = createRepositoryAccess({
    baseUrl: options.github.baseUrl,
    registry: options.registry,
    cacheSeconds: options.permissionCacheSeconds ?? 60,
  });
  const page: ConsoleContext["page"] = (res, status, title, body, session, extra = {}) =>
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
  const message: ConsoleContext["message"] = (res, status, title, text, session) =>
    page(
      res,
      status,
      title,
      html`<h1>${title}</h1><p class="refusal" role="alert">${text}</p><p><a href="/console">Back to the runs</a></p>`,
      session,
    );
  return {
    db,
    engine,
    log: options.log,
    limits: options.limits,
    access,
    sessions,
    oauthStates: createCookieSealer({ secret: options.sessionSecret, purpose: "oauth" }),
    signIn:
      clientId === undefined || clientSecret === undefined
        ? undefined
        : createGitHubSignIn({ clientId, clientSecret, baseUrl: options.github.baseUrl }),
    secure: options.publicUrl?.startsWith("https://") === true,
    webUrl: githubWebUrl(options.github.baseUrl),
    pollMs: options.pollMs ?? 500,
    // Without a public URL the request's own host is used: GitHub accepts only a
    // registered callback URL, so a forged Host header leads nowhere.
    callbackUrl: (req) =>
      `${(options.publicUrl ?? `http://${req.headers.host ?? "localhost"}`).replace(/\/$/, "")}/console/callback`,
    page,
    message,
    noSuchRun: (res, session) =>
      message(
        res,
        404,
        "No such run",
        "There is no such run, or you cannot read its repository.",
        session,
      ),
    sessionOf: (req) => sessions.open<Session>(readCookies(req).get(SESSION_COOKIE)),
    async readable(session) {
      const all = await repositoriesWithRuns(db);
      const allowed = await Promise.all(
        all.map((repository) => access.canRead(session, repository)),
      );
      return all.filter((_, index) => allowed[index]);
    },
    async readableRun(session, runId) {
      if (!/^[0-9a-f-]{36}$/i.test(runId)) return null;
      const run = await engine.getRun(runId);
      if (run === null || !(await access.canRead(session, run.repository, run.repositoryId)))
        return null;
      return run;
    },
    validForm: (session, req, form) =>
      sameOrigin(req) && constantTimeEqual(form?.get("csrf") ?? "", session.csrf),
  };
}
