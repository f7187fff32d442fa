import { accessSync, constants, existsSync, readFileSync, writeFileSync } from "node:fs";
import { mkdir, readdir, readFile, rmdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { SandboxLimits } from "../../security/execution-limits.ts";

/** Where devflow can make a cgroup per execution, and why not when it cannot. */
export interface CgroupSupport {
  /** `v2` (the unified tree), `v1` (the pids and memory trees) or `none`. */
  kind: "v2" | "v1" | "none";
  /** The group each execution's own is made in, per controller (one directory for v2). */
  parents: { pids?: string; memory?: string };
  /** What is missing, for doctor and the start-up log. */
  note?: string;
}

const ROOT = "/sys/fs/cgroup";
/** Execution groups are named `devflow-<execution id>`, so `reap` can find them. */
const PREFIX = "devflow-";

/** This process's group in each hierarchy, by controller ("" for the unified tree). */
function ownGroups(): Map<string, string> {
  const groups = new Map<string, string>();
  let text = "";
  try {
    text = readFileSync("/proc/self/cgroup", "utf8");
  } catch {
    return groups;
  }
  for (const line of text.split("\n")) {
    const [, controllers, path] = /^\d+:([^:]*):(.*)$/.exec(line) ?? [];
    if (controllers === undefined || path === undefined) continue;
    for (const name of controllers === "" ? [""] : controllers.split(",")) groups.set(name, path);
  }
  return groups;
}

function writable(dir: string): boolean {
  try {
    accessSync(dir, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Finds where this process may make a group per execution: in the unified tree,
 * under its own group (or the delegated one `DEVFLOW_SANDBOX_CGROUP` names) when
 * that group hands the pids and memory controllers down — its subtree_control
 * names them, or devflow may turn them on (only a group without processes of its
 * own, or the root, may) — or else under its own groups in cgroup v1's pids and
 * memory trees.
 */
export function probeCgroups(configured?: string): CgroupSupport {
  const own = ownGroups();
  if (existsSync(join(ROOT, "cgroup.controllers"))) {
    const parent = configured ?? join(ROOT, own.get("") ?? "/");
    const control = join(parent, "cgroup.subtree_control");
    try {
      const enabled = readFileSync(control, "utf8");
      if (!/\bpids\b/.test(enabled) || !/\bmemory\b/.test(enabled)) {
        writeFileSync(control, "+pids +memory");
      }
      if (!writable(parent)) throw new Error(`${parent} is not writable`);
      return { kind: "v2", parents: { pids: parent, memory: parent } };
    } catch (error) {
      return {
        kind: "none",
        parents: {},
        note: `the cgroup ${parent} does not hand the pids and memory controllers down (${(error as Error).message}); run devflow in a unit with Delegate=yes and set DEVFLOW_SANDBOX_CGROUP to a group it owns`,
      };
    }
  }
  const parents: CgroupSupport["parents"] = {};
  for (const controller of ["pids", "memory"] as const) {
    const dir = join(ROOT, controller, own.get(controller) ?? "/");
    if (existsSync(join(dir, "cgroup.procs")) && writable(dir)) parents[controller] = dir;
  }
  const missing = (["pids", "memory"] as const).filter((name) => parents[name] === undefined);
  if (missing.length === 2) {
    return { kind: "none", parents, note: "no cgroup tree this process may make groups in" };
  }
  return {
    kind: "v1",
    parents,
    ...(missing.length === 0 ? {} : { note: `no writable cgroup v1 ${missing[0]} tree` }),
  };
}

/** One execution's cgroup: what its processes join, and how it is emptied and removed. */
export interface ExecutionCgroup {
  /** The cgroup.procs files the sandbox's first process writes itself into. */
  procs: string[];
  /**
   * Whether the group holds every process of the execution for certain (a pids
   * group: an unprivileged process cannot leave it), so killing it kills them all.
   */
  holdsAll: boolean;
  /** Kills every process in the group and waits (bounded) until none is left. */
  kill(): Promise<number>;
  /** Removes the group (after `kill`). */
  remove(): Promise<void>;
}

function groupDirs(support: CgroupSupport, executionId: string): string[] {
  const dirs = new Set<string>();
  for (const parent of [support.parents.pids, support.parents.memory]) {
    if (parent !== undefined) dirs.add(join(parent, `${PREFIX}${executionId}`));
  }
  return [...dirs];
}

async function pidsIn(dir: string): Promise<number[]> {
  const text = await readFile(join(dir, "cgroup.procs"), "utf8").catch(() => "");
  return text
    .split("\n")
    .filter((line) => line !== "")
    .map(Number);
}

async function killGroup(dirs: string[]): Promise<number> {
  let killed = 0;
  for (let pass = 0; pass < 250; pass += 1) {
    const pids = new Set((await Promise.all(dirs.map(pidsIn))).flat());
    if (pids.size === 0) return killed;
    for (const pid of pids) {
      try {
        process.kill(pid, "SIGKILL");
        killed += pass === 0 ? 1 : 0;
      } catch {
        // Gone already.
      }
    }
    await sleep(20);
  }
  return killed;
}

async function removeGroups(dirs: string[]): Promise<void> {
  for (const dir of dirs) {
    await rmdir(dir).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== "ENOENT") throw error;
    });
  }
}

/**
 * Makes the cgroup of one execution with its limits: at most `pids` processes and
 * `memoryMb` of memory (its /tmp counts: tmpfs pages are charged to the group
 * that writes them), swap included where the kernel accounts it.
 */
export async function createExecutionCgroup(
  support: CgroupSupport,
  executionId: string,
  limits: SandboxLimits,
): Promise<ExecutionCgroup | undefined> {
  if (support.kind === "none") return undefined;
  const bytes = String(limits.memoryMb * 1024 * 1024);
  const dirs = groupDirs(support, executionId);
  for (const dir of dirs) await mkdir(dir, { recursive: true });
  if (support.kind === "v2") {
    const [dir] = dirs as [string];
    await writeFile(join(dir, "pids.max"), String(limits.pids));
    await writeFile(join(dir, "memory.max"), bytes);
    await writeFile(join(dir, "memory.swap.max"), "0").catch(() => undefined);
  } else {
    const { pids, memory } = support.parents;
    if (pids !== undefined)
      await writeFile(join(pids, `${PREFIX}${executionId}`, "pids.max"), String(limits.pids));
    if (memory !== undefined) {
      const dir = join(memory, `${PREFIX}${executionId}`);
      await writeFile(join(dir, "memory.limit_in_bytes"), bytes);
      await writeFile(join(dir, "memory.memsw.limit_in_bytes"), bytes).catch(() => undefined);
    }
  }
  return {
    procs: dirs.map((dir) => join(dir, "cgroup.procs")),
    holdsAll: support.parents.pids !== undefined,
    kill: () => killGroup(dirs),
    remove: () => removeGroups(dirs),
  };
}

/**
 * Empties and removes the groups of executions that are over, whoever made them
 * (a worker that died leaves its executions' groups behind); their ids.
 */
export async function reapCgroups(
  support: CgroupSupport,
  isOver: (executionIds: string[]) => Promise<Set<string>>,
): Promise<string[]> {
  const found = new Set<string>();
  for (const parent of new Set([support.parents.pids, support.parents.memory])) {
    if (parent === undefined) continue;
    for (const name of await readdir(parent).catch(() => [] as string[])) {
      if (name.startsWith(PREFIX)) found.add(name.slice(PREFIX.length));
    }
  }
  if (found.size === 0) return [];
  const over = await isOver([...found]);
  const reaped: string[] = [];
  for (const executionId of found) {
    if (!over.has(executionId)) continue;
    const dirs = groupDirs(support, executionId);
    await killGroup(dirs);
    await removeGroups(dirs).catch(() => undefined);
    reaped.push(executionId);
  }
  return reaped;
}
