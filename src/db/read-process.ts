import { readFile } from "node:fs/promises";

export interface ProcessInfo {
  /** The kernel's one-letter state: R, S, D …, Z for a zombie (exited, not yet reaped); "?" where /proc is missing. */
  state: string;
  /** The executable's name as the kernel keeps it (`postgres`); "" where /proc is missing. */
  name: string;
  /** The parent's pid; 0 where /proc is missing. */
  parent: number;
}

/**
 * What the kernel says of process `pid`; undefined when there is no such process.
 * A zombie is still there: its pid exists (and `kill -0` succeeds on it) until its
 * parent reaps it.
 */
export async function readProcess(pid: number): Promise<ProcessInfo | undefined> {
  let stat: string;
  try {
    stat = await readFile(`/proc/${pid}/stat`, "utf8");
  } catch {
    // No /proc (macOS): the process is there or not, no more.
    try {
      process.kill(pid, 0);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ESRCH") return undefined;
    }
    return { state: "?", name: "", parent: 0 };
  }
  // "pid (name) state ppid …", where the name may itself hold spaces and parentheses.
  const open = stat.indexOf("(");
  const close = stat.lastIndexOf(")");
  const [state = "?", parent = "0"] = stat.slice(close + 2).split(" ");
  return { state, name: stat.slice(open + 1, close), parent: Number(parent) };
}
