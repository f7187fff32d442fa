import { readdir, readFile } from "node:fs/promises";

/** A process on this host whose environment names a devflow execution (its sandbox, its agent). */
export interface ExecutionProcess {
  pid: number;
  executionId: string;
  command: string;
}

export async function executionProcesses(): Promise<ExecutionProcess[]> {
  const found: ExecutionProcess[] = [];
  for (const name of await readdir("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const environ = await readFile(`/proc/${name}/environ`, "latin1").catch(() => "");
    const executionId = /(?:^|\0)DEVFLOW_EXECUTION_ID=([^\0]+)/.exec(environ)?.[1];
    if (executionId === undefined) continue;
    const command = await readFile(`/proc/${name}/cmdline`, "latin1").catch(() => "");
    found.push({
      pid: Number(name),
      executionId,
      command: command.replaceAll("\0", " ").slice(0, 120),
    });
  }
  return found;
}

/** Kills `processes` (SIGKILL), those already gone included. */
export function killAll(processes: ExecutionProcess[]): void {
  for (const { pid } of processes) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // Gone already.
    }
  }
}
