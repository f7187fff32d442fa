import { readdir, readFile } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";

/** Whether `pid` is still the agent of `executionId` (a pid can be reused after a restart). */
export async function ownsProcess(pid: number, executionId: string): Promise<boolean> {
  try {
    const environ = await readFile(`/proc/${pid}/environ`, "latin1");
    return environ.split("\0").includes(`DEVFLOW_EXECUTION_ID=${executionId}`);
  } catch {
    return false;
  }
}

/** Every process on this host whose environment names an execution, by execution id. */
export async function executionProcesses(): Promise<Map<string, number[]>> {
  const found = new Map<string, number[]>();
  for (const name of await readdir("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const environ = await readFile(`/proc/${name}/environ`, "latin1").catch(() => "");
    const match = /(?:^|\0)DEVFLOW_EXECUTION_ID=([^\0]+)/.exec(environ);
    if (match?.[1] === undefined) continue;
    found.set(match[1], [...(found.get(match[1]) ?? []), Number(name)]);
  }
  return found;
}

/** How long the runner waits for killed leftovers to be gone. */
const LEFTOVER_WAIT_MS = 5_000;

/**
 * Kills every process still carrying `executionId` once the execution's first
 * process is gone; how many there were. A sandbox normally dies with it
 * (--die-with-parent), but bubblewrap arms that only part-way through setting the
 * sandbox up: its first process killed before then (a stop, a time limit or devflow
 * itself ending the moment an agent starts) leaves the sandbox running with no one
 * to answer to. Unsandboxed, an agent's detached children would outlive it too.
 */
export async function killLeftovers(executionId: string): Promise<number> {
  let total = 0;
  // Again while a pass found some: a process may have forked before it died.
  for (let pass = 0; pass < 3; pass += 1) {
    const killed: number[] = [];
    for (const pid of (await executionProcesses()).get(executionId) ?? []) {
      // Looked at again just before: a pid freed since the scan is not this execution's.
      if (!(await ownsProcess(pid, executionId))) continue;
      try {
        process.kill(pid, "SIGKILL");
        killed.push(pid);
      } catch {
        // Gone already.
      }
    }
    if (killed.length === 0) break;
    total += killed.length;
    // A SIGKILL takes effect when the process next runs: the execution is over once
    // they are gone (a busy host takes a moment), not when they were signalled.
    for (let waited = 0; waited < LEFTOVER_WAIT_MS; waited += 20) {
      const alive = await Promise.all(killed.map((pid) => ownsProcess(pid, executionId)));
      if (!alive.includes(true)) break;
      await sleep(20);
    }
  }
  return total;
}
