import type { FailedJob } from "../../engine/failed-jobs.ts";
import { html, jsonScript, type SafeHtml } from "../html.ts";
import type { ChartSeries, QueueOverview } from "../queue-overview.ts";
import { formatDuration, formatTime } from "./format.ts";

export interface QueuesPageOptions {
  overview: QueueOverview;
  /** Failed jobs of runs the person can read, and whether they may retry each. */
  failed: { job: FailedJob; mayRetry: boolean }[];
  charts: ChartSeries;
  csrf: string;
  notice?: string | undefined;
  now: Date;
}

/** Queued runs and the caps holding them, pg-boss's queues, workers, failed jobs and charts. */
export function renderQueuesPage(options: QueuesPageOptions): SafeHtml {
  const { overview, now } = options;
  return html`<h1>Queues and workers</h1>
${options.notice === undefined ? "" : html`<p class="notice" role="status">${options.notice}</p>`}
<section id="charts"><h2>Charts <span class="sub">last 48 hours</span></h2>
<div class="charts">
  <figure><figcaption>Runs started per hour</figcaption><div class="chart" data-series="runsStarted" data-label="runs"></div></figure>
  <figure><figcaption>Mean phase attempt duration (s)</figcaption><div class="chart" data-series="attemptSeconds" data-label="seconds"></div></figure>
  <figure><figcaption>Cost per hour (USD)</figcaption><div class="chart" data-series="costUsd" data-label="USD"></div></figure>
</div>
<script type="application/json" id="chart-data">${jsonScript(options.charts)}</script>
</section>
<section id="queued"><h2>Queued runs</h2>${
    overview.queued.length === 0
      ? html`<p class="empty">No run is waiting for a slot.</p>`
      : html`<div class="scroll"><table><thead><tr><th>Position</th><th>Run</th><th>Held by</th></tr></thead><tbody>${overview.queued.map(
          (run) =>
            html`<tr><td>${run.position}</td><td><a href="/console/runs/${run.id}">${run.repository}#${run.issueNumber}</a></td><td>${run.heldBy}</td></tr>`,
        )}</tbody></table></div>`
  }</section>
<section id="job-queues"><h2>Job queues</h2><div class="scroll"><table><thead><tr><th>Queue</th><th>Waiting</th><th>Active</th><th>Failed</th></tr></thead><tbody>${overview.queues.map(
    (queue) =>
      html`<tr><td>${queue.name}</td><td>${queue.waiting}</td><td>${queue.active}</td><td>${queue.failed}</td></tr>`,
  )}</tbody></table></div></section>
<section id="workers"><h2>Workers</h2>${
    overview.workers.length === 0
      ? html`<p class="empty">No worker has run an agent yet.</p>`
      : html`<div class="scroll"><table><thead><tr><th>Worker</th><th>Last heartbeat</th><th>Running</th></tr></thead><tbody>${overview.workers.map(
          (worker) =>
            html`<tr><td>${worker.worker}</td><td>${formatDuration(now.getTime() - worker.lastHeartbeat.getTime())} ago</td><td>${worker.running}</td></tr>`,
        )}</tbody></table></div>`
  }</section>
<section id="failed-jobs"><h2>Failed jobs</h2>${
    options.failed.length === 0
      ? html`<p class="empty">No job has failed every retry.</p>`
      : html`<div class="scroll"><table><thead><tr><th>Job</th><th>Run</th><th>Error</th><th class="wide">Failed</th><th></th></tr></thead><tbody>${options.failed.map(
          ({ job, mayRetry }) => html`<tr><td>${job.queue}<div class="sub">${job.id}</div></td>
<td>${job.runId === null ? "—" : html`<a href="/console/runs/${job.runId}">run</a>`}</td>
<td>${job.error.slice(0, 300)}</td><td class="wide">${formatTime(job.failedAt)}</td>
<td>${mayRetry ? html`<form method="post" action="/console/jobs/${job.id}/retry"><input type="hidden" name="csrf" value="${options.csrf}"><button type="submit">Retry</button></form>` : ""}</td></tr>`,
        )}</tbody></table></div>`
  }</section>`;
}
