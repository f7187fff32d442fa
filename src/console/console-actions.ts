import type { IncomingMessage, ServerResponse } from "node:http";
import { DevflowError } from "../errors.ts";
import { type ConsoleContext, SESSION_COOKIE, type Session } from "./console-context.ts";
import { cookieHeader } from "./cookies.ts";
import { readForm, redirect } from "./http-helpers.ts";

const EXPIRED =
  "This form expired or did not come from this console: reload the page and try again.";
type RunAction = "pause" | "resume" | "abort";

/**
 * The console's POSTs: sign out, pause/resume/abort a run, retry a failed job.
 * Each needs the session's CSRF token from the console's own origin; a run action
 * or retry also needs the person to be allowed to steer the run's repository,
 * asked again here whatever the page showed. False for any other request.
 */
export async function handleAction(
  ctx: ConsoleContext,
  session: Session,
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
): Promise<boolean> {
  if (req.method !== "POST") return false;
  const runAction = /^\/console\/runs\/([^/]+)\/(pause|resume|abort)$/.exec(path);
  const retry = /^\/console\/jobs\/([^/]+)\/retry$/.exec(path);
  if (path !== "/console/sign-out" && runAction === null && retry === null) return false;
  const form = await readForm(req);
  if (!ctx.validForm(session, req, form)) {
    ctx.message(res, 403, "Refused", EXPIRED, session);
    return true;
  }
  if (path === "/console/sign-out") {
    redirect(res, "/console/sign-in", {
      "set-cookie": cookieHeader(SESSION_COOKIE, "", { maxAgeSeconds: 0, secure: ctx.secure }),
    });
  } else if (runAction !== null) {
    const reason = form?.get("reason")?.trim().slice(0, 500) || undefined;
    await steer(ctx, session, res, runAction[1] ?? "", runAction[2] as RunAction, reason);
  } else {
    await retryJob(ctx, session, res, retry?.[1] ?? "");
  }
  return true;
}

async function steer(
  ctx: ConsoleContext,
  session: Session,
  res: ServerResponse,
  runId: string,
  action: RunAction,
  reason: string | undefined,
): Promise<void> {
  const run = await ctx.readableRun(session, runId);
  if (run === null) {
    ctx.noSuchRun(res, session);
    return;
  }
  const may = await ctx.access.maySteer(session, run.repository, run.baseBranch);
  if (!may.allowed) {
    ctx.log.info({ runId, login: session.login, action }, "console action refused");
    ctx.message(res, 403, "Refused", `You may not ${action} this run: ${may.reason}.`, session);
    return;
  }
  const actor = session.login;
  try {
    if (action === "pause")
      await ctx.engine.pauseRun({ runId, actor, reason: "paused from the console" });
    else if (action === "resume") await ctx.engine.resumeRun({ runId, actor });
    else await ctx.engine.abortRun({ runId, actor, reason: reason ?? "aborted from the console" });
  } catch (error) {
    // The run moved on meanwhile (it ended, or waits for a person at a gate).
    if (error instanceof DevflowError && error.class === "human") {
      ctx.message(res, 409, "Not now", error.message, session);
      return;
    }
    throw error;
  }
  ctx.log.info({ runId, login: actor, action }, "run steered from the console");
  redirect(res, `/console/runs/${runId}?notice=${action === "abort" ? "aborted" : `${action}d`}`);
}

async function retryJob(
  ctx: ConsoleContext,
  session: Session,
  res: ServerResponse,
  jobId: string,
): Promise<void> {
  const [job] = await ctx.engine.listFailedJobs({ ids: [jobId] });
  const run = job?.runId == null ? null : await ctx.readableRun(session, job.runId);
  if (job === undefined || run === null) {
    ctx.message(
      res,
      404,
      "No such job",
      "There is no such failed job of a run you can read.",
      session,
    );
    return;
  }
  const may = await ctx.access.maySteer(session, run.repository, run.baseBranch);
  if (!may.allowed) {
    ctx.message(res, 403, "Refused", `You may not retry this run's jobs: ${may.reason}.`, session);
    return;
  }
  await ctx.engine.retryFailedJobs([job.id]);
  ctx.log.info(
    { jobId, runId: run.id, login: session.login },
    "failed job retried from the console",
  );
  redirect(res, "/console/queues?notice=retried");
}
