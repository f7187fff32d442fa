import { parseArgs } from "node:util";
import { and, desc, eq, like, type SQL, sql } from "drizzle-orm";
import { RUN_STATES, runs } from "../db/schema/index.ts";
import type { Engine } from "../engine/create-engine.ts";
import type { RunStatus } from "../engine/get-run-status.ts";
import { DevflowError } from "../errors.ts";
import type { Settings } from "../settings.ts";
import { UsageError } from "./exit-codes.ts";
import { withEngine } from "./open-engine.ts";

const ACTOR = "cli";

/** `devflow runs …`: lists, shows and steers runs from a shell. */
export async function runsCommand(settings: Settings, args: string[]): Promise<void> {
  const [action, ...rest] = args;
  const { values, positionals } = parse(rest);
  switch (action) {
    case "list":
      if (positionals.length > 0) throw new UsageError("runs list takes no run");
      return withEngine(settings, (engine) => listRuns(engine, values));
    case "show":
      return withEngine(settings, async (engine) => {
        const status = await engine.getRunStatus(await resolveRun(engine, one(positionals)));
        print(values.json ? JSON.stringify(status, null, 2) : renderStatus(status));
      });
    case "pause":
      return withEngine(settings, async (engine) => {
        const runId = await resolveRun(engine, one(positionals));
        const { changed } = await engine.pauseRun({
          runId,
          actor: ACTOR,
          ...(values.reason === undefined ? {} : { reason: values.reason }),
        });
        print(changed ? `run ${runId} paused` : `run ${runId} was already paused`);
      });
    case "resume":
      return withEngine(settings, async (engine) => {
        const runId = await resolveRun(engine, one(positionals));
        const { changed } = await engine.resumeRun({ runId, actor: ACTOR });
        print(changed ? `run ${runId} resumed` : `run ${runId} was not paused`);
      });
    case "abort":
      return withEngine(settings, async (engine) => {
        const runId = await resolveRun(engine, one(positionals));
        const { changed } = await engine.abortRun({
          runId,
          actor: ACTOR,
          reason: values.reason ?? "aborted from the devflow CLI",
        });
        print(changed ? `run ${runId} aborted` : `run ${runId} was already aborted`);
      });
    case undefined:
      throw new UsageError("runs needs an action: list, show, pause, resume or abort");
    default:
      throw new UsageError(`unknown runs action "${action}"`);
  }
}

interface RunsOptions {
  state?: string | undefined;
  repository?: string | undefined;
  limit?: string | undefined;
  reason?: string | undefined;
  json?: boolean | undefined;
}

function parse(args: string[]): { values: RunsOptions; positionals: string[] } {
  try {
    return parseArgs({
      args,
      allowPositionals: true,
      options: {
        state: { type: "string" },
        repository: { type: "string" },
        limit: { type: "string" },
        reason: { type: "string" },
        json: { type: "boolean" },
      },
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

function one(positionals: string[]): string {
  if (positionals.length !== 1 || positionals[0] === undefined) {
    throw new UsageError("name exactly one run: its id, an id prefix, or OWNER/NAME#ISSUE");
  }
  return positionals[0];
}

function print(text: string): void {
  process.stdout.write(`${text}\n`);
}

const RUN_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A run id from what a person typed: an id, a prefix of one, or OWNER/NAME#ISSUE. */
export async function resolveRun(engine: Engine, reference: string): Promise<string> {
  const notFound = () =>
    new DevflowError(`no run matches "${reference}"`, { class: "human", code: "run_not_found" });
  const issue = /^([\w.-]+\/[\w.-]+)#(\d+)$/.exec(reference);
  if (issue?.[1] !== undefined) {
    const run = await engine.findRun({ repository: issue[1], issueNumber: Number(issue[2]) });
    if (run === null) throw notFound();
    return run.id;
  }
  if (RUN_ID.test(reference)) return reference.toLowerCase();
  if (!/^[0-9a-f-]{8,}$/i.test(reference)) {
    throw new UsageError(`"${reference}" is not a run id, an id prefix or OWNER/NAME#ISSUE`);
  }
  const matches = await engine.deps.db
    .select({ id: runs.id })
    .from(runs)
    .where(like(sql`${runs.id}::text`, `${reference.toLowerCase()}%`))
    .limit(2);
  if (matches.length > 1) throw new UsageError(`"${reference}" matches more than one run`);
  const [match] = matches;
  if (match === undefined) throw notFound();
  return match.id;
}

async function listRuns(engine: Engine, options: RunsOptions): Promise<void> {
  const limit = options.limit === undefined ? 20 : Number(options.limit);
  if (!Number.isInteger(limit) || limit < 1)
    throw new UsageError("--limit takes a positive integer");
  if (options.state !== undefined && !(RUN_STATES as readonly string[]).includes(options.state)) {
    throw new UsageError(`--state takes one of ${RUN_STATES.join(", ")}`);
  }
  const where: SQL[] = [];
  if (options.state !== undefined)
    where.push(eq(runs.state, options.state as (typeof RUN_STATES)[number]));
  if (options.repository !== undefined) where.push(eq(runs.repository, options.repository));
  const rows = await engine.deps.db
    .select({
      id: runs.id,
      state: runs.state,
      repository: runs.repository,
      issue: runs.issueNumber,
      template: sql<string>`${runs.templateName} || '@' || ${runs.templateVersion}`,
      pullRequest: runs.pullRequestNumber,
      createdAt: runs.createdAt,
      updatedAt: runs.updatedAt,
    })
    .from(runs)
    .where(where.length === 0 ? undefined : and(...where))
    .orderBy(desc(runs.createdAt), desc(runs.id))
    .limit(limit);
  if (options.json) {
    print(JSON.stringify(rows, null, 2));
    return;
  }
  if (rows.length === 0) {
    print("no runs");
    return;
  }
  print(
    table(
      ["RUN", "STATE", "ISSUE", "TEMPLATE", "PR", "UPDATED"],
      rows.map((row) => [
        row.id,
        row.state,
        `${row.repository}#${row.issue}`,
        row.template,
        row.pullRequest === null ? "-" : `#${row.pullRequest}`,
        row.updatedAt.toISOString(),
      ]),
    ),
  );
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => (row[column] ?? "").length)),
  );
  return [header, ...rows]
    .map((row) =>
      row
        .map((cell, column) => cell.padEnd(widths[column] ?? 0))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

/** One run as plain text for a terminal. */
export function renderStatus({
  run,
  phases,
  approvals,
  report,
  eventsTail,
  stuck,
}: RunStatus): string {
  const lines = [
    `run       ${run.id}`,
    `state     ${run.state}${run.state === "paused" ? ` (from ${run.pausedFromState})` : ""}`,
    `issue     ${run.repository}#${run.issueNumber} ${run.issueTitle}`,
    `template  ${run.templateName}@${run.templateVersion}`,
    `branch    ${run.branch}${run.pullRequestNumber === null ? "" : ` (PR #${run.pullRequestNumber})`}`,
    `created   ${run.createdAt.toISOString()}`,
  ];
  if (run.failure !== null) lines.push(`failure   ${JSON.stringify(run.failure)}`);
  for (const job of stuck) {
    lines.push(
      `stuck     ${job.queue} job ${job.id} failed every retry: ${job.error} (devflow jobs retry ${job.id})`,
    );
  }
  lines.push(
    "",
    table(
      ["PHASE", "STATE", "ATTEMPTS", "ROLE", "GATE"],
      phases.map((phase) => [
        phase.phaseKey,
        phase.state,
        `${phase.attempts}/${phase.maxAttempts}`,
        phase.role,
        phase.gateKey ?? "-",
      ]),
    ),
  );
  if (approvals.length > 0) {
    lines.push(
      "",
      table(
        ["GATE", "KIND", "STATE", "REASON"],
        approvals.map((approval) => [
          `${approval.gateKey} (${approval.id})`,
          approval.kind,
          approval.state,
          approval.reason ?? "",
        ]),
      ),
    );
  }
  if (report !== null) lines.push("", `report    ${report.path} (${report.status})`);
  lines.push("", "latest events:");
  for (const event of eventsTail) {
    lines.push(
      `  ${String(event.seq).padStart(4)}  ${event.createdAt.toISOString()}  ${event.type}`,
    );
  }
  return lines.join("\n");
}
