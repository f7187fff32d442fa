import MarkdownIt from "markdown-it";
import { isTerminal } from "../../db/schema/index.ts";
import { renderArtifactMarkdown } from "../../report/render-artifact-markdown.ts";
import { html, raw, type SafeHtml } from "../html.ts";
import type { RunView } from "../load-run.ts";
import { formatCost, formatDuration, formatTime, stateBadge } from "./format.ts";

/**
 * Artifacts and reports are written by agents, who may write anything: Markdown
 * with HTML off (tags show as text), no linkified bare URLs, and markdown-it's own
 * link check (no javascript:, vbscript:, file: or data: links), and no images.
 */
const markdown = new MarkdownIt({ html: false, linkify: false, typographer: false });
// No images: an agent's image would make every viewer's browser fetch what it names
// (a tracker, or one of the console's own streams). Its alt text and address show as text.
markdown.renderer.rules.image = (tokens, index) => {
  const token = tokens[index];
  const alt = token?.content ?? "";
  const src = token?.attrGet("src") ?? "";
  return markdown.utils.escapeHtml(`[image: ${alt}${src === "" ? "" : ` <${src}>`}]`);
};

export interface RunPageOptions {
  view: RunView;
  /** GitHub's web address (https://github.com, or the Enterprise host). */
  webUrl: string;
  steer: { allowed: boolean; reason: string };
  csrf: string;
  notice?: string | undefined;
  now: Date;
}

const ACTIONS: { action: "pause" | "resume" | "abort"; when: (state: string) => boolean }[] = [
  {
    action: "pause",
    when: (state) => ["planning", "executing", "awaiting_approval"].includes(state),
  },
  { action: "resume", when: (state) => state === "paused" },
  { action: "abort", when: (state) => !isTerminal(state) },
];

function renderActions(options: RunPageOptions): SafeHtml {
  const { run } = options.view;
  const available = ACTIONS.filter((entry) => entry.when(run.state));
  if (available.length === 0) return html``;
  if (!options.steer.allowed) {
    return html`<p class="refusal">You can read this run but not steer it: ${options.steer.reason}.</p>`;
  }
  return html`<div class="actions">${available.map(
    ({ action }) => html`<form method="post" action="/console/runs/${run.id}/${action}">
  <input type="hidden" name="csrf" value="${options.csrf}">
  ${action === "abort" ? html`<input type="text" name="reason" placeholder="why (optional)" aria-label="reason">` : ""}
  <button type="submit" class="${action === "abort" ? "danger" : ""}" data-action="${action}">${action[0]?.toUpperCase()}${action.slice(1)}</button>
</form>`,
  )}</div>`;
}

function renderPhases(options: RunPageOptions): SafeHtml {
  const { view, now } = options;
  const workerOf = (attemptId: string) =>
    [
      ...new Set(
        view.executions.filter((e) => e.attemptId === attemptId).map((e) => e.worker ?? e.backend),
      ),
    ].join(", ");
  return html`<section id="phases"><h2>Phases</h2><div class="scroll"><table class="phases">
<thead><tr><th>Phase</th><th>Attempt</th><th>Outcome</th><th>Duration</th><th>Cost</th><th class="wide">Tokens</th><th class="wide">Worker</th></tr></thead>
<tbody>${view.phases.map((phase) => {
    const attempts = view.attempts.filter((attempt) => attempt.phaseId === phase.id);
    const head = html`<tr class="phase"><th scope="rowgroup" rowspan="${Math.max(1, attempts.length)}">${phase.phaseKey}<div class="sub">${phase.title}</div>${stateBadge(phase.state)}${phase.gateKey === null ? "" : html`<div class="sub">gate ${phase.gateKey}</div>`}</th>`;
    if (attempts.length === 0)
      return html`${head}<td colspan="6" class="sub">not started</td></tr>`;
    return attempts.map(
      (attempt, index) => html`${index === 0 ? head : html`<tr>`}
  <td>#${attempt.attempt}</td>
  <td>${stateBadge(attempt.state)}${attempt.failure === null ? "" : html`<div class="sub">${attempt.failure.category}: ${attempt.failure.code}</div>`}</td>
  <td>${formatDuration((attempt.endedAt ?? now).getTime() - attempt.startedAt.getTime())}</td>
  <td>${formatCost(attempt.costUsd)}</td>
  <td class="wide">${attempt.tokens === null ? "—" : `${attempt.tokens.input ?? 0} in / ${attempt.tokens.output ?? 0} out`}</td>
  <td class="wide">${workerOf(attempt.id) || "—"}</td>
</tr>`,
    );
  })}</tbody></table></div></section>`;
}

function renderGates(options: RunPageOptions): SafeHtml {
  const { view } = options;
  if (view.approvals.length === 0) return html``;
  return html`<section id="gates"><h2>Gates</h2><div class="scroll"><table>
<thead><tr><th>Gate</th><th>State</th><th>Decided by</th><th>How</th><th class="wide">When</th></tr></thead>
<tbody>${view.approvals.map((approval) => {
    const decision = view.decisions.get(approval.id);
    return html`<tr>
  <td>${approval.gateKey}${approval.kind === "human_required" ? html`<div class="sub">needs a person: ${approval.reason ?? ""}</div>` : ""}</td>
  <td>${stateBadge(approval.state)}</td>
  <td>${decision?.actor ?? approval.resolvedBy ?? "—"}</td>
  <td>${decision === undefined ? "—" : decision.action.replaceAll("_", " ")}${decision?.body ? html`<div class="sub">${decision.body}</div>` : ""}</td>
  <td class="wide">${approval.resolvedAt === null ? "open" : formatTime(approval.resolvedAt)}</td>
</tr>`;
  })}</tbody></table></div></section>`;
}

function renderArtifacts(options: RunPageOptions): SafeHtml {
  const { view } = options;
  const latest = new Map<string, RunView["artifactRows"][number]>();
  for (const artifact of view.artifactRows) latest.set(artifact.phaseId, artifact);
  if (latest.size === 0) return html``;
  return html`<section id="artifacts"><h2>Artifacts</h2>${[...latest.values()].map((artifact) => {
    const phase = view.phases.find((candidate) => candidate.id === artifact.phaseId);
    const title = phase?.title ?? artifact.schemaId;
    const body = artifact.valid
      ? raw(markdown.render(renderArtifactMarkdown(artifact.schemaId, title, artifact.content)))
      : html`<p class="refusal">Invalid against ${artifact.schemaId}:</p><ul>${artifact.errors.map((error) => html`<li>${error}</li>`)}</ul>`;
    return html`<details id="artifact-${artifact.id}" class="artifact"><summary>${phase?.phaseKey ?? "?"} · ${artifact.schemaId} · attempt ${artifact.attempt}</summary><div class="markdown">${body}</div></details>`;
  })}</section>`;
}

function renderSessions(options: RunPageOptions): SafeHtml {
  const { view } = options;
  if (view.executions.length === 0) return html``;
  const last = view.executions.at(-1)?.id;
  return html`<section id="sessions"><h2>Agent sessions</h2>${view.executions.map((execution) => {
    const phase = view.phases.find((candidate) => candidate.id === execution.phaseId);
    const attempt = view.attempts.find((candidate) => candidate.id === execution.attemptId);
    const open = execution.state === "running" || execution.id === last;
    return html`<details id="session-${execution.id}" class="session"${open ? html` open` : ""}>
<summary>${phase?.phaseKey ?? "?"} · attempt ${attempt?.attempt ?? "?"} · revision ${execution.revision} · ${stateBadge(execution.state)} <span class="sub">${execution.worker ?? execution.backend}, ${formatTime(execution.startedAt)}</span></summary>
${execution.prompt === null ? "" : html`<details class="prompt"><summary>Prompt</summary><pre>${execution.prompt}</pre></details>`}
<pre class="transcript" data-execution="${execution.id}" data-length="${[...execution.transcript].length}">${execution.transcript}</pre>
</details>`;
  })}</section>`;
}

function renderTimeline(options: RunPageOptions): SafeHtml {
  return html`<section id="timeline"><h2>Timeline</h2><ol class="timeline">${options.view.events.map(
    (event) =>
      html`<li><span class="seq">${event.seq}</span> ${formatTime(event.createdAt)} <strong>${event.type}</strong>${Object.keys(event.payload).length === 0 ? "" : html` <code>${JSON.stringify(event.payload).slice(0, 400)}</code>`}</li>`,
  )}</ol></section>`;
}

/** The part of the run page that changes as the run moves: fetched again on each of its events. */
export function renderRunLive(options: RunPageOptions): SafeHtml {
  const { view } = options;
  const { run } = view;
  return html`<div class="summary">
  ${stateBadge(run.state)}
  <span>phase <strong>${view.phases.find((phase) => phase.id === run.currentPhaseId)?.phaseKey ?? "—"}</strong></span>
  <span>cost <strong>${formatCost(view.attempts.reduce((sum, attempt) => sum + (attempt.costUsd ?? 0), 0))}</strong></span>
  <span>age <strong>${formatDuration(options.now.getTime() - run.createdAt.getTime())}</strong></span>
  ${run.failure === null ? "" : html`<p class="refusal">${run.failure.category}: ${run.failure.code} — ${run.failure.message}</p>`}
</div>
${renderActions(options)}
${view.stuck.length === 0 ? "" : html`<section id="stuck"><h2>Stuck jobs</h2><ul>${view.stuck.map((job) => html`<li>${job.queue}: ${job.error}${options.steer.allowed ? html` <form class="inline" method="post" action="/console/jobs/${job.id}/retry"><input type="hidden" name="csrf" value="${options.csrf}"><button type="submit">Retry</button></form>` : ""}</li>`)}</ul></section>`}
${renderPhases(options)}
${renderGates(options)}
${renderSessions(options)}
${renderArtifacts(options)}
${view.report === null ? "" : html`<section id="report"><h2>Report</h2><div class="markdown">${raw(markdown.render(view.report.markdown))}</div></section>`}
${renderTimeline(options)}`;
}

/** A run: where it stands, its phases and attempts, gates, agent sessions (live), artifacts and history. */
export function renderRunPage(options: RunPageOptions): SafeHtml {
  const { run } = options.view;
  const repo = `${options.webUrl}/${run.repository}`;
  return html`<p class="crumbs"><a href="/console">Runs</a> / ${run.repository}</p>
<h1>${run.repository}#${run.issueNumber} <span class="title">${run.issueTitle}</span></h1>
${options.notice === undefined ? "" : html`<p class="notice" role="status">${options.notice}</p>`}
<p class="links">
  <a href="${repo}/issues/${run.issueNumber}">Issue</a>
  ${run.pullRequestNumber === null ? "" : html`<a href="${repo}/pull/${run.pullRequestNumber}">Pull request #${run.pullRequestNumber}</a> <a href="${repo}/pull/${run.pullRequestNumber}/checks">Checks</a>`}
  <a href="${repo}/tree/${run.branch}">Branch ${run.branch}</a>
  <span class="sub">${run.templateName}@${run.templateVersion} · started by ${run.startedBy ?? "—"} · run ${run.id}</span>
</p>
<div id="run-live" data-live="/console/stream/runs/${run.id}?seq=${run.lastEventSeq}" data-fragment="/console/runs/${run.id}?fragment=live">
${renderRunLive(options)}
</div>
<section id="issue"><h2>Issue</h2><pre class="requirements">${run.requirements.slice(0, 20_000)}</pre></section>`;
}
