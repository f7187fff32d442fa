import { execFile } from "node:child_process";
import { lstat } from "node:fs/promises";
import { promisify } from "node:util";
import { shownPath } from "../workspaces/shown-path.ts";

const run = promisify(execFile);

/** A tree walker's output, NUL-separated, of any size an agent can make. */
const BIG = { maxBuffer: 512 * 1024 * 1024, encoding: "buffer" as const };

/**
 * Runs one of coreutils' or findutils' tree walkers. They walk relative to the
 * directories they open (no path grows past PATH_MAX however deep an agent nests
 * directories), take a name as the bytes it is, and never follow a link (`-P`, `-h`).
 */
async function walker(command: string, args: string[]): Promise<Buffer> {
  const { stdout } = await run(command, args, BIG);
  return stdout;
}

function entries(output: Buffer): Buffer[] {
  const found: Buffer[] = [];
  let start = 0;
  for (let at = output.indexOf(0); at >= 0; at = output.indexOf(0, start)) {
    found.push(output.subarray(start, at));
    start = at + 1;
  }
  return found;
}

/**
 * Gives the agent's user the directories it must write (its work tree and its
 * execution directory) when devflow runs as root and the agent as someone else.
 * Links are changed themselves, never followed. Nothing to do when devflow is not
 * root: the agent then runs as devflow's own user.
 */
export async function handOver(paths: string[], user: { uid: number; gid: number }): Promise<void> {
  if (process.getuid?.() !== 0) return;
  await walker("chown", ["-hR", "--", `${user.uid}:${user.gid}`, ...paths]);
}

/** What `takeBack` changed, for the execution's transcript (names as shownPath gives them). */
export interface TakenBack {
  /** Files that were set-user-ID or set-group-ID. */
  setId: string[];
  /** FIFOs, sockets and device nodes, removed: nothing devflow keeps can be one. */
  special: string[];
}

/**
 * Takes back what an agent wrote once its processes are gone: no FIFO, socket or
 * device node is left, everything is devflow's own again (when devflow is root and
 * the agent had a uid of its own), no file stays set-user-ID or set-group-ID,
 * nothing is writable by anyone but its owner, no file is executable by anyone but
 * its owner, and every directory can be entered and read by its owner. What an
 * agent leaves can then neither be run to become someone nor block a reader.
 * Rejects when a walk fails: the caller then treats the tree as one to remove.
 */
export async function takeBack(paths: string[]): Promise<TakenBack> {
  const present: string[] = [];
  for (const path of paths) if (await lstat(path).catch(() => null)) present.push(path);
  if (present.length === 0) return { setId: [], special: [] };
  const special = entries(
    await walker("find", [
      "-P",
      ...present,
      "(",
      "-type",
      "p",
      "-o",
      "-type",
      "s",
      "-o",
      "-type",
      "b",
      "-o",
      "-type",
      "c",
      ")",
      "-print0",
      "-delete",
    ]),
  );
  const setId = entries(
    await walker("find", ["-P", ...present, "!", "-type", "d", "-perm", "/6000", "-print0"]),
  );
  if (process.getuid?.() === 0) {
    await walker("chown", [
      "-hR",
      "--",
      `${process.getuid()}:${process.getgid?.() ?? 0}`,
      ...present,
    ]);
  }
  // Directories: the owner may always enter them (an agent's chmod 000 must not hide
  // what is under it); everything: no set-id bit, nothing writable by others.
  await walker("find", [
    "-P",
    ...present,
    "-type",
    "d",
    "!",
    "-perm",
    "-700",
    "-exec",
    "chmod",
    "u+rwx",
    "{}",
    "+",
  ]);
  await walker("chmod", ["-R", "u-s,g-s,go-w", "--", ...present]);
  await walker("find", [
    "-P",
    ...present,
    "-type",
    "f",
    "-perm",
    "/011",
    "-exec",
    "chmod",
    "go-x",
    "{}",
    "+",
  ]);
  return { setId: setId.map(shownPath), special: special.map(shownPath) };
}
