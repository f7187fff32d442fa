import type { IncomingMessage, ServerResponse } from "node:http";
import type { ConsoleContext, Session } from "./console-context.ts";
import { streamRun, streamRuns } from "./console-streams.ts";
import { sendHtml } from "./http-helpers.ts";
import { listRuns } from "./list-runs.ts";
import { loadRun } from "./load-run.ts";
import { renderQueuesPage } from "./pages/render-queues-page.ts";
import { renderRunLive, renderRunPage } from "./pages/render-run-page.ts";
import { renderRunsPage, renderRunsTable } from "./pages/render-runs-page.ts";
import { chartSeries, queueOverview } from "./queue-overview.ts";

/** What a redirect after an action says, by key: nothing from the URL is shown as is. */
const NOTICES: Record<string, string> = {
  paused: "The run is paused.",
  resumed: "The run resumed.",
  aborted: "The run was aborted.",
  retried: "The job was queued again.",
};

const UUID = /^[0-9a-f-]{36}$/i;

/**
 * The console's GETs for a signed-in person: the runs page, a run's page, the queues
 * page, the fragments the live pages fetch again, and their event streams. False
 * for any other request.
 */
export async function handlePage(
  ctx: ConsoleContext,
  session: Session,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  path: string,
): Promise<boolean> {
  if (req.method !== "GET") return false;
  const now = new Date();
  const notice = NOTICES[url.searchParams.get("notice") ?? ""];
  const param = (name: string) => url.searchParams.get(name) || undefined;
  if (path === "/console") {
    const repositories = await ctx.readable(session);
    const state = param("state");
    const repository = param("repository");
    const runs = await listRuns({ db: ctx.db, repositories, state, repository });
    const view = { runs, repositories, state, repository, now };
    if (param("fragment") === "runs") sendHtml(res, 200, renderRunsTable(view));
    else ctx.page(res, 200, "Runs", renderRunsPage(view), session, { active: "runs" });
    return true;
  }
  if (path === "/console/queues") {
    await queuesPage(ctx, session, res, notice, now);
    return true;
  }
  const runPath = /^\/console\/runs\/([^/]+)$/.exec(path);
  if (runPath !== null) {
    const run = await ctx.readableRun(session, runPath[1] ?? "");
    const view = run === null ? null : await loadRun(ctx.db, ctx.engine, run.id);
    if (run === null || view === null) {
      ctx.noSuchRun(res, session);
      return true;
    }
    const steer = await ctx.access.maySteer(session, run.repository, run.baseBranch);
    const options = { view, webUrl: ctx.webUrl, steer, csrf: session.csrf, notice, now };
    if (param("fragment") === "live") sendHtml(res, 200, renderRunLive(options));
    else
      ctx.page(res, 200, `${run.repository}#${run.issueNumber}`, renderRunPage(options), session, {
        active: "runs",
      });
    return true;
  }
  // A stream lasts no longer than the session it was opened with.
  const sessionStillValid = () => ctx.sessionOf(req) !== undefined;
  // Streams are for the page's EventSource only: not an <img> or a link an agent's
  // Markdown could make the browser open.
  if (
    path.startsWith("/console/stream/") &&
    !(req.headers.accept ?? "").includes("text/event-stream")
  ) {
    res.writeHead(406, { "content-type": "text/plain" }).end("an event stream only\n");
    return true;
  }
  if (path === "/console/stream/runs") {
    const all = await ctx.readable(session);
    const repository = param("repository");
    await streamRuns({
      res,
      owner: session.login,
      db: ctx.db,
      log: ctx.log,
      pollMs: ctx.pollMs * 2,
      repositories: repository === undefined ? all : all.filter((name) => name === repository),
      stillAllowed: async () => sessionStillValid(),
    });
    return true;
  }
  const runStream = /^\/console\/stream\/runs\/([^/]+)$/.exec(path);
  if (runStream !== null) {
    const run = await ctx.readableRun(session, runStream[1] ?? "");
    if (run === null) {
      res.writeHead(404).end();
      return true;
    }
    const have = new Map<string, number>();
    for (const entry of (param("have") ?? "").split(",")) {
      const [id, length] = entry.split(":");
      if (id !== undefined && UUID.test(id) && Number.isInteger(Number(length)))
        have.set(id, Number(length));
    }
    const seq = param("seq");
    await streamRun({
      res,
      owner: session.login,
      db: ctx.db,
      log: ctx.log,
      pollMs: ctx.pollMs,
      runId: run.id,
      have,
      seq: seq !== undefined && /^\d+$/.test(seq) ? Number(seq) : undefined,
      stillAllowed: async () =>
        sessionStillValid() &&
        (await ctx.access.canRead(session, run.repository, run.repositoryId)),
    });
    return true;
  }
  return false;
}

async function queuesPage(
  ctx: ConsoleContext,
  session: Session,
  res: ServerResponse,
  notice: string | undefined,
  now: Date,
): Promise<void> {
  const repositories = await ctx.readable(session);
  const readable = new Set(repositories);
  const [overview, charts, failedJobs] = await Promise.all([
    queueOverview(ctx.db, ctx.limits, repositories),
    chartSeries(ctx.db, repositories),
    ctx.engine.listFailedJobs({ limit: 200 }),
  ]);
  const failed = [];
  for (const job of failedJobs) {
    const run = job.runId === null ? null : await ctx.engine.getRun(job.runId);
    if (run === null || !readable.has(run.repository)) continue;
    const may = await ctx.access.maySteer(session, run.repository, run.baseBranch);
    failed.push({ job, mayRetry: may.allowed });
  }
  ctx.page(
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
}
