import { RUN_STATES } from "../../db/schema/index.ts";
import { html, type SafeHtml } from "../html.ts";
import type { RunListItem } from "../list-runs.ts";
import { formatCost, formatDuration, stateBadge } from "./format.ts";

export interface RunsPageOptions {
  runs: RunListItem[];
  repositories: string[];
  state: string | undefined;
  repository: string | undefined;
  now: Date;
}

/** The runs table alone: what the live runs page fetches again when a run changes. */
export function renderRunsTable(options: RunsPageOptions): SafeHtml {
  if (options.runs.length === 0) {
    return html`<p class="empty">No runs${options.state === undefined && options.repository === undefined ? "" : " match these filters"}.</p>`;
  }
  return html`<div class="scroll"><table class="runs">
<thead><tr><th>State</th><th>Run</th><th class="wide">Template</th><th>Phase / gate</th><th>Age</th><th>Cost</th></tr></thead>
<tbody>
${options.runs.map(
  (run) => html`<tr>
  <td>${stateBadge(run.state)}</td>
  <td class="run"><a href="/console/runs/${run.id}">${run.repository}#${run.issueNumber}</a><div class="sub">${run.issueTitle}</div></td>
  <td class="wide">${run.template}</td>
  <td data-label="phase">${run.phaseKey ?? "—"}${run.gateKey === null ? "" : html`<div class="sub">gate ${run.gateKey}</div>`}</td>
  <td data-label="age">${formatDuration(options.now.getTime() - run.createdAt.getTime())}</td>
  <td data-label="cost">${formatCost(run.costUsd)}</td>
</tr>`,
)}
</tbody></table></div>`;
}

/** Runs of the repositories the person can read, filtered by state and repository, kept live. */
export function renderRunsPage(options: RunsPageOptions): SafeHtml {
  const query = new URLSearchParams();
  if (options.state !== undefined) query.set("state", options.state);
  if (options.repository !== undefined) query.set("repository", options.repository);
  return html`<h1>Runs</h1>
<form class="filters" method="get" action="/console">
  <label>State <select name="state">
    <option value="">any</option>
    ${RUN_STATES.map((state) => html`<option value="${state}"${state === options.state ? html` selected` : ""}>${state.replaceAll("_", " ")}</option>`)}
  </select></label>
  <label>Repository <select name="repository">
    <option value="">any</option>
    ${options.repositories.map((repository) => html`<option${repository === options.repository ? html` selected` : ""}>${repository}</option>`)}
  </select></label>
  <button type="submit">Filter</button>
</form>
<div id="runs-table" data-live="/console/stream/runs?${query.toString()}" data-fragment="/console?${query.toString()}${query.size > 0 ? "&" : ""}fragment=runs">
${renderRunsTable(options)}
</div>`;
}
