import { readdir, readFile } from "node:fs/promises";

/** A process on this host whose environment names a devflow execution (its sandbox, its agent). */
export interface ExecutionProcess {
  pid: number;
  /** Its parent's pid: 1 once the process that started it is gone. */
  ppid: number;
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
    // The fields after the command name, which is in parentheses and may hold spaces.
    const stat = await readFile(`/proc/${name}/stat`, "latin1").catch(() => "");
    const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    found.push({
      pid: Number(name),
      ppid,
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
