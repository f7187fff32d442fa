import { isUtf8 } from "node:buffer";
import { execFile } from "node:child_process";
import type { Stats } from "node:fs";
import { chmod, lchown, lstat, readdir, unlink } from "node:fs/promises";
import { join } from "node:path";
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

/** What a walk by path cannot go through: the tree walkers do it instead. */
class BeyondPaths extends Error {}

/** The longest path the walk by path builds; a deeper tree goes to the tree walkers. */
const MAX_PATH = 2048;

/**
 * Visits `path` and everything under it by path, links as themselves: quick for a
 * tree of ordinary names, and BeyondPaths for one it cannot vouch for (a name that
 * is not UTF-8, which Node would read back changed, or a path near PATH_MAX).
 */
async function walk(path: string, visit: (path: string, stats: Stats) => Promise<void>) {
  if (path.length > MAX_PATH) throw new BeyondPaths(path);
  const stats = await lstat(path).catch(() => {
    throw new BeyondPaths(path);
  });
  await visit(path, stats);
  if (!stats.isDirectory()) return;
  for (const name of await readdir(path, { encoding: "buffer" })) {
    if (!isUtf8(name)) throw new BeyondPaths(path);
    await walk(join(path, name.toString("utf8")), visit);
  }
}

/**
 * Gives the agent's user the directories it must write (its work tree and its
 * execution directory) when devflow runs as root and the agent as someone else.
 * Links are changed themselves, never followed. Nothing to do when devflow is not
 * root: the agent then runs as devflow's own user.
 */
export async function handOver(paths: string[], user: { uid: number; gid: number }): Promise<void> {
  if (process.getuid?.() !== 0) return;
  try {
    for (const path of paths) {
      await walk(path, async (file, stats) => {
        if (stats.uid !== user.uid || stats.gid !== user.gid)
          await lchown(file, user.uid, user.gid);
      });
    }
  } catch (error) {
    if (!(error instanceof BeyondPaths)) throw error;
    await walker("chown", ["-hR", "--", `${user.uid}:${user.gid}`, ...paths]);
  }
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
  const taken: TakenBack = { setId: [], special: [] };
  try {
    for (const path of paths) await takeBackByPath(path, taken);
    return taken;
  } catch {
    // What the walk by path did stays done; the tree walkers do the whole again.
    const rest = await takeBackWithWalkers(paths);
    return { setId: rest.setId, special: [...taken.special, ...rest.special] };
  }
}

/** takeBack for a tree of ordinary names, by path, without starting a program. */
async function takeBackByPath(path: string, taken: TakenBack): Promise<void> {
  const root = process.getuid?.() === 0;
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  const exists = await lstat(path).catch(() => null);
  if (exists === null) return;
  await walk(path, async (file, stats) => {
    if (stats.isFIFO() || stats.isSocket() || stats.isBlockDevice() || stats.isCharacterDevice()) {
      taken.special.push(shownPath(Buffer.from(file)));
      await unlink(file);
      return;
    }
    if (root && (stats.uid !== uid || stats.gid !== gid)) await lchown(file, uid, gid);
    if (stats.isSymbolicLink()) return;
    if ((stats.mode & 0o6000) !== 0 && !stats.isDirectory())
      taken.setId.push(shownPath(Buffer.from(file)));
    const mode = stats.mode & 0o7777;
    const wanted = stats.isDirectory() ? (mode & 0o755) | 0o700 : mode & 0o744;
    if (wanted !== mode) await chmod(file, wanted);
  });
}

/** takeBack through find, chown and chmod, for any tree an agent can make. */
async function takeBackWithWalkers(paths: string[]): Promise<TakenBack> {
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
