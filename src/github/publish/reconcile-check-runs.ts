import { createHash } from "node:crypto";
import type { ProbotOctokit } from "probot";
import type { PublishedState } from "../../db/schema/index.ts";
import type { RunStatus } from "../../engine/get-run-status.ts";
import { HUMAN_GATES } from "../../engine/human-gates.ts";
import { GATE_EXTERNAL_ID_PREFIX } from "../handlers/check-run-requested-action.ts";
import { cut } from "./render-run-status.ts";

/** GitHub's limit for a check run's output summary. */
const OUTPUT_LIMIT = 65_535;

type Conclusion = "success" | "failure" | "neutral" | "cancelled" | "skipped" | "action_required";

interface DesiredCheck {
  externalId: string;
  name: string;
  /** The summary check follows the branch head; the others stay on the commit they started on. */
  followsHead: boolean;
  status: "queued" | "in_progress" | "completed";
  conclusion?: Conclusion;
  title: string;
  summary: string;
  actions: { label: string; description: string; identifier: string }[];
}

const ACTIONS = {
  approve: { label: "Approve", description: "Approve this gate", identifier: "approve" },
  request_changes: {
    label: "Request changes",
    description: "Run the phase again",
    identifier: "request_changes",
  },
  reject: { label: "Reject", description: "Fail the run", identifier: "reject" },
} as const;

const PHASE: Record<string, Pick<DesiredCheck, "status" | "conclusion">> = {
  pending: { status: "queued" },
  running: { status: "in_progress" },
  awaiting_approval: { status: "completed", conclusion: "success" },
  completed: { status: "completed", conclusion: "success" },
  failed: { status: "completed", conclusion: "failure" },
  skipped: { status: "completed", conclusion: "skipped" },
};

const GATE: Record<string, Conclusion> = {
  approved: "success",
  rejected: "failure",
  changes_requested: "neutral",
  aborted: "cancelled",
};

const RUN: Record<string, Conclusion> = {
  completed: "success",
  failed: "failure",
  aborted: "cancelled",
};

/** What the run's check runs should say now. */
export function desiredChecks(status: RunStatus): DesiredCheck[] {
  const { run } = status;
  const checks: DesiredCheck[] = status.phases.map((phase) => ({
    externalId: `devflow-phase:${phase.id}`,
    name: `devflow / ${phase.phaseKey}`,
    followsHead: false,
    ...(PHASE[phase.state] ?? { status: "queued" as const }),
    title: `${phase.title}: ${phase.state.replaceAll("_", " ")}`,
    summary: [
      `Phase \`${phase.phaseKey}\` of run \`${run.id}\`, attempt ${phase.attempts} of at most ${phase.maxAttempts}.`,
      phase.artifactSchema === null
        ? "It has no artifact to produce."
        : `Artifact: \`.devflow/runs/${run.id}/${phase.phaseKey}.json\` (${phase.artifactSchema}).`,
      phase.failure === null
        ? ""
        : `**${phase.failure.category}** \`${phase.failure.code}\`: ${phase.failure.message}`,
      (phase.egressDenied ?? []).length === 0
        ? ""
        : `**The sandbox refused the agent:** ${(phase.egressDenied ?? [])
            .slice(0, 10)
            .map((denial) => `\`${denial.host}:${denial.port}\` (${denial.reason})`)
            .join(", ")}. An operator can allow a destination with \`DEVFLOW_EGRESS_ALLOW\`.`,
    ]
      .filter((line) => line !== "")
      .join("\n\n"),
    actions: [],
  }));
  // One check run per gate: the latest request of each gate key.
  const latest = new Map(status.approvals.map((approval) => [approval.gateKey, approval]));
  for (const gate of latest.values()) {
    const pending = gate.state === "pending";
    const allowed =
      gate.kind === "human_required"
        ? ((HUMAN_GATES as Record<string, readonly string[]>)[gate.gateKey] ?? [])
        : Object.keys(ACTIONS);
    checks.push({
      externalId: `${GATE_EXTERNAL_ID_PREFIX}${gate.id}`,
      name: `devflow / gate: ${gate.gateKey}`,
      followsHead: false,
      ...(pending
        ? { status: "in_progress" as const }
        : { status: "completed" as const, conclusion: GATE[gate.state] ?? "neutral" }),
      title: pending
        ? `Waiting for a decision at ${gate.gateKey}`
        : `${gate.gateKey}: ${gate.state.replaceAll("_", " ")}${gate.resolvedBy ? ` by ${gate.resolvedBy}` : ""}`,
      summary: pending
        ? `${gate.reason ?? "Review the pull request"}. Decide with a pull-request review, \`/devflow approve\`, or the buttons here.`
        : `Decided ${gate.resolvedAt?.toISOString() ?? ""}.`,
      actions: pending ? allowed.map((action) => ACTIONS[action as keyof typeof ACTIONS]) : [],
    });
  }
  const terminal = RUN[run.state];
  checks.push({
    externalId: `devflow-run:${run.id}`,
    name: "devflow",
    followsHead: true,
    ...(terminal === undefined
      ? { status: "in_progress" as const }
      : { status: "completed" as const, conclusion: terminal }),
    title: `Run ${run.state.replaceAll("_", " ")}`,
    summary:
      run.failure === null
        ? `Run \`${run.id}\`: ${run.state.replaceAll("_", " ")}.`
        : `**${run.failure.category}** \`${run.failure.code}\`: ${run.failure.message}`,
    actions: [],
  });
  return checks;
}

/**
 * Creates each check run once (the summary check again whenever the branch head
 * moves, so branch protection sees it on the head) and updates it only when what
 * it says changed. Returns the published state to store.
 */
export async function reconcileCheckRuns(
  octokit: ProbotOctokit,
  target: { owner: string; repo: string },
  status: RunStatus,
  headSha: string,
  published: NonNullable<PublishedState["checkRuns"]>,
): Promise<NonNullable<PublishedState["checkRuns"]>> {
  const next = { ...published };
  for (const check of desiredChecks(status)) {
    const output = {
      title: check.title.slice(0, 255),
      summary: cut(check.summary, OUTPUT_LIMIT, "in devflow's database"),
    };
    const body = {
      name: check.name,
      status: check.status,
      ...(check.conclusion === undefined ? {} : { conclusion: check.conclusion }),
      output,
      actions: check.actions,
      external_id: check.externalId,
    };
    const digest = createHash("sha256").update(JSON.stringify(body)).digest("hex").slice(0, 16);
    const known = next[check.externalId];
    if (known !== undefined && (!check.followsHead || known.sha === headSha)) {
      if (known.hash !== digest) {
        await octokit.rest.checks.update({
          owner: target.owner,
          repo: target.repo,
          check_run_id: known.id,
          ...body,
        });
        next[check.externalId] = { ...known, hash: digest };
      }
      continue;
    }
    const { data } = await octokit.rest.checks.create({
      owner: target.owner,
      repo: target.repo,
      head_sha: headSha,
      ...body,
    });
    next[check.externalId] = { id: data.id, sha: headSha, hash: digest };
  }
  return next;
}
