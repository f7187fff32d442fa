/**
 * A run's page in devflow's console, at devflow's public address (DEVFLOW_PUBLIC_URL):
 * what check runs' "Details" and the status comment link to.
 */
export function runPageUrl(publicUrl: string, runId: string): string {
  return `${publicUrl.replace(/\/+$/, "")}/console/runs/${encodeURIComponent(runId)}`;
}
