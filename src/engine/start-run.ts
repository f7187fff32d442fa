import { createHash } from "node:crypto";
import { and, count, eq, isNull, notInArray, or, sql } from "drizzle-orm";
import type { Tx } from "../db/client.ts";
import type { RunRow } from "../db/rows.ts";
import {
  type RunAgentConfig,
  runBindings,
  runPhases,
  runs,
  TERMINAL_RUN_STATES,
  workflowTemplates,
} from "../db/schema/index.ts";
import { assertInput, DevflowError } from "../errors.ts";
import type { PersonaEntry, RepositoryTemplate, TemplateDefinition } from "../registry/types.ts";
import { admitQueued, queuePlace, takeAdmissionLock } from "./admission.ts";
import { inTransaction, lockRun } from "./run-transition.ts";
import type { EngineDeps } from "./types.ts";

export interface StartRunInput {
  /** Makes the start idempotent: the webhook delivery id, or a CLI-chosen key. */
  startKey: string;
  repository: string;
  repositoryId?: number;
  installationId?: number;
  issueNumber: number;
  issueTitle: string;
  requirements: string;
  baseBranch: string;
  cloneUrl?: string;
  /** `name@version`; `development@1` when absent. */
  template?: string;
  /**
   * The repository's own template `template` names, read and checked by the
   * caller; absent: `template` is a built-in one. The run stores and pins it.
   */
  repositoryTemplate?: RepositoryTemplate;
  agentConfig?: RunAgentConfig;
  startedBy?: string;
  /** What agents may cost this run, in US dollars; the engine's default when absent. */
  budgetUsd?: number;
  /** The repository's own cap on active runs, when it sets one lower than devflow's. */
  repositoryCap?: number;
  /** Gates of the template this run goes without (their phases complete when they succeed). */
  skipGates?: string[];
  /** Keep the run's directory in the tree when it completes (by default its last commit takes it out). */
  keepArtifactsInTree?: boolean;
}

/** The gate on development@1's implementation phase, which a repository may turn off. */
export const IMPLEMENTATION_GATE = "implementation_approved";

export interface StartRunResult {
  runId: string;
  state: RunRow["state"];
  /** True when this start key had already started the run. */
  replayed: boolean;
}

/** JSON with object keys sorted at every depth, so equal inputs hash equally. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, item]) => item !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${canonicalJson(item)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

function inputHash(input: StartRunInput): string {
  // A repository template is named by `template`: a replay that read a since-edited
  // file is the same start, and returns the run that started.
  const { startKey: _ignored, repositoryTemplate: _named, ...rest } = input;
  return createHash("sha256").update(canonicalJson(rest)).digest("hex");
}

/** `devflow/<issue>-<slug>` (`-run<n>` for an issue's n-th run), the slug from the title: short, lower case, git-safe. */
export function runBranchName(issueNumber: number, title: string, nth = 1): string {
  const slug = title
    .toLowerCase()
    .normalize("NFKD")
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 40)
    .replace(/-+$/g, "");
  return `devflow/${issueNumber}${slug === "" ? "" : `-${slug}`}${nth > 1 ? `-run${nth}` : ""}`;
}

/**
 * Starts a run for an issue, or queues it when devflow or the repository is at its
 * cap of active runs (it then starts, FIFO, when a slot frees). Replaying the same
 * start key with the same input returns the same run; with different input it is
 * `internal_state_corruption`. A second active run for one issue is
 * `active_run_exists`, whose recovery hint names the run that is active.
 */
export async function startRun(deps: EngineDeps, input: StartRunInput): Promise<StartRunResult> {
  assertInput(input.startKey.length > 0, "startKey must not be empty");
  assertInput(
    /^[^/\s]+\/[^/\s]+$/.test(input.repository),
    `repository must be owner/name, got "${input.repository}"`,
  );
  assertInput(
    Number.isInteger(input.issueNumber) && input.issueNumber > 0,
    "issueNumber must be a positive integer",
  );
  assertInput(input.baseBranch.length > 0, "baseBranch must not be empty");
  const templateId = input.template ?? "development@1";
  const own = input.repositoryTemplate;
  assertInput(
    own === undefined ||
      (own.template.id === templateId && own.repositoryId === input.repositoryId),
    "repositoryTemplate must be the template named by template, of the run's repository",
  );
  const entry = own?.template ?? deps.registry.templates.get(templateId);
  if (entry === undefined) {
    throw new DevflowError(`unknown workflow template ${templateId}`, {
      class: "human",
      code: "unknown_template",
      recoveryHint: `use one of: ${[...deps.registry.templates.keys()].join(", ")}`,
    });
  }
  const hash = inputHash(input);

  return inTransaction(deps, async (tx) => {
    await takeAdmissionLock(tx);
    const [replay] = await tx.select().from(runs).where(eq(runs.startKey, input.startKey));
    if (replay !== undefined) {
      if (replay.inputHash !== hash) {
        throw new DevflowError(`start ${input.startKey} was replayed with different input`, {
          class: "fatal",
          code: "internal_state_corruption",
          recoveryHint: JSON.stringify({ currentRunId: replay.id }),
        });
      }
      return { runId: replay.id, state: replay.state, replayed: true };
    }
    const [active] = await tx
      .select({ id: runs.id, state: runs.state })
      .from(runs)
      .where(
        and(
          eq(runs.repository, input.repository),
          eq(runs.issueNumber, input.issueNumber),
          notInArray(runs.state, [...TERMINAL_RUN_STATES]),
        ),
      );
    if (active !== undefined) {
      throw new DevflowError(
        `${input.repository}#${input.issueNumber} already has an active run (${active.id}, ${active.state})`,
        {
          class: "human",
          code: "active_run_exists",
          recoveryHint: JSON.stringify({ currentRunId: active.id, currentState: active.state }),
        },
      );
    }
    const template =
      own === undefined
        ? await builtinTemplateRow(tx, entry.definition)
        : await repositoryTemplateRow(tx, own);
    if (template === undefined || template.hash !== entry.hash) {
      throw new DevflowError(
        `template ${templateId} is not stored as loaded; run devflow migrate`,
        {
          class: "fatal",
          code: "registry_out_of_date",
        },
      );
    }
    const definition: TemplateDefinition = entry.definition;
    // An issue's later runs get branches of their own: the run branch on the remote is
    // where a run resumes from, and its pull request is found by it, so reusing an
    // earlier run's branch would build on that run's work and take over its (closed)
    // pull request. (Admission's lock serialises starts, so the count is stable.)
    const [earlier] = await tx
      .select({ n: count() })
      .from(runs)
      .where(
        and(
          eq(runs.issueNumber, input.issueNumber),
          // By GitHub's id when known: a renamed repository keeps counting its runs.
          input.repositoryId == null
            ? sql`lower(${runs.repository}) = lower(${input.repository})`
            : or(
                eq(runs.repositoryId, input.repositoryId),
                sql`lower(${runs.repository}) = lower(${input.repository})`,
              ),
        ),
      );
    const branch = runBranchName(input.issueNumber, input.issueTitle, (earlier?.n ?? 0) + 1);
    const [run] = await tx
      .insert(runs)
      .values({
        repository: input.repository,
        repositoryId: input.repositoryId ?? null,
        installationId: input.installationId ?? null,
        issueNumber: input.issueNumber,
        issueTitle: input.issueTitle,
        requirements: input.requirements,
        baseBranch: input.baseBranch,
        branch,
        cloneUrl: input.cloneUrl ?? null,
        templateId: template.id,
        templateName: definition.name,
        templateVersion: definition.version,
        templateHash: entry.hash,
        state: "queued",
        startKey: input.startKey,
        inputHash: hash,
        agentConfig: input.agentConfig ?? {},
        startedBy: input.startedBy ?? null,
        // A repository may lower devflow's limit, never raise it.
        budgetUsd:
          input.budgetUsd === undefined
            ? (deps.limits.defaultBudgetUsd ?? null)
            : Math.min(input.budgetUsd, deps.limits.defaultBudgetUsd ?? Number.POSITIVE_INFINITY),
        repositoryCap: input.repositoryCap ?? null,
      })
      .returning();
    if (run === undefined) throw new Error("insert into runs returned nothing");
    await tx.insert(runBindings).values(
      Object.entries(definition.roles).map(([role, binding]) => {
        const persona: PersonaEntry | undefined =
          own?.personas.get(binding.persona) ?? deps.registry.personas.get(binding.persona);
        return {
          runId: run.id,
          role,
          persona: binding.persona,
          personaHash: persona?.hash ?? null,
          personaBody: persona?.body ?? null,
          agent: binding.agent ?? null,
        };
      }),
    );
    await tx.insert(runPhases).values(
      definition.phases.map((phase, index) => ({
        runId: run.id,
        phaseKey: phase.key,
        seq: (index + 1) * 1000,
        title: phase.title,
        role: phase.role,
        artifactSchema: phase.artifact,
        gateKey:
          phase.gate === undefined ||
          // A plan's gate is what inserts its phases: never skipped.
          (phase.expandsPlan !== true && input.skipGates?.includes(phase.gate))
            ? null
            : phase.gate,
        instructions: phase.instructions ?? "",
        origin: "template" as const,
        expandsPlan: phase.expandsPlan ?? false,
        runState: phase.runState ?? ("executing" as const),
        maxAttempts: definition.maxAttempts ?? 3,
      })),
    );
    const t = await lockRun(tx, deps, run.id);
    await t.emit(
      "run.created",
      {
        repository: input.repository,
        issue: input.issueNumber,
        template: templateId,
        branch: run.branch,
        ...(input.keepArtifactsInTree === true ? { keepArtifactsInTree: true } : {}),
      },
      "created",
    );
    await t.flush();
    const admitted = await admitQueued(tx, deps);
    if (admitted.includes(run.id)) {
      const [now] = await tx.select({ state: runs.state }).from(runs).where(eq(runs.id, run.id));
      return { runId: run.id, state: now?.state ?? "planning", replayed: false };
    }
    const place = await queuePlace(tx, deps, run);
    await t.emit("run.queued", { ...place }, "queued");
    await t.flush();
    return { runId: run.id, state: "queued" as const, replayed: false };
  });
}

/** The stored row of a built-in template, as `devflow migrate` stored it. */
async function builtinTemplateRow(tx: Tx, definition: TemplateDefinition) {
  const [row] = await tx
    .select({ id: workflowTemplates.id, hash: workflowTemplates.hash })
    .from(workflowTemplates)
    .where(
      and(
        isNull(workflowTemplates.repositoryId),
        eq(workflowTemplates.name, definition.name),
        eq(workflowTemplates.version, definition.version),
      ),
    );
  return row;
}

/** The row of a repository template's content, stored the first time a run uses it. */
async function repositoryTemplateRow(tx: Tx, own: RepositoryTemplate) {
  const { definition, hash, file } = own.template;
  const scope = and(
    eq(workflowTemplates.repositoryId, own.repositoryId),
    eq(workflowTemplates.name, definition.name),
    eq(workflowTemplates.version, definition.version),
    eq(workflowTemplates.hash, hash),
  );
  await tx
    .insert(workflowTemplates)
    .values({
      name: definition.name,
      version: definition.version,
      hash,
      definition,
      source: file,
      repositoryId: own.repositoryId,
    })
    .onConflictDoNothing({
      target: [
        workflowTemplates.repositoryId,
        workflowTemplates.name,
        workflowTemplates.version,
        workflowTemplates.hash,
      ],
      where: sql`${workflowTemplates.repositoryId} is not null`,
    });
  const [row] = await tx
    .select({ id: workflowTemplates.id, hash: workflowTemplates.hash })
    .from(workflowTemplates)
    .where(scope);
  return row;
}
