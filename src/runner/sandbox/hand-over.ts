import type { Stats } from "node:fs";
import { chmod, lchown, lstat, readdir, unlink } from "node:fs/promises";
import { join } from "node:path";

/** Visits `path` and everything under it, links as themselves (never followed). */
async function walk(path: string, visit: (path: string, stats: Stats) => Promise<void>) {
  let stats: Stats;
  try {
    stats = await lstat(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return;
    throw error;
  }
  await visit(path, stats);
  if (!stats.isDirectory()) return;
  for (const name of await readdir(path)) await walk(join(path, name), visit);
}

/**
 * Gives the agent's user the directories it must write (its work tree and its
 * execution directory) when devflow runs as root and the agent as someone else.
 * Links are changed themselves (lchown), never followed. Nothing to do when
 * devflow is not root: the agent then runs as devflow's own user.
 */
export async function handOver(paths: string[], user: { uid: number; gid: number }): Promise<void> {
  if (process.getuid?.() !== 0) return;
  for (const path of paths) {
    await walk(path, async (file, stats) => {
      if (stats.uid !== user.uid || stats.gid !== user.gid) await lchown(file, user.uid, user.gid);
    });
  }
}

/** What `takeBack` changed, for the execution's transcript. */
export interface TakenBack {
  /** Files that were set-user-ID or set-group-ID. */
  setId: string[];
  /** FIFOs and sockets, removed: nothing devflow keeps can be one. */
  special: string[];
}

/**
 * Takes back what an agent wrote once its processes are gone: everything becomes
 * devflow's own again (when devflow is root and the agent had a uid of its own),
 * no file stays set-user-ID or set-group-ID, nothing is writable or executable
 * by anyone but its owner (directories stay traversable), and FIFOs and sockets
 * go. What an agent leaves can then neither be run to become someone nor block a
 * reader. Links are changed themselves, never followed.
 */
export async function takeBack(paths: string[]): Promise<TakenBack> {
  const root = process.getuid?.() === 0;
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  const taken: TakenBack = { setId: [], special: [] };
  for (const path of paths) {
    await walk(path, async (file, stats) => {
      if (stats.isFIFO() || stats.isSocket()) {
        taken.special.push(file);
        await unlink(file);
        return;
      }
      if (root && (stats.uid !== uid || stats.gid !== gid)) await lchown(file, uid, gid);
      if (stats.isSymbolicLink()) return;
      if ((stats.mode & 0o6000) !== 0 && !stats.isDirectory()) taken.setId.push(file);
      const mode = stats.mode & 0o7777;
      const wanted = stats.isDirectory() ? (mode & 0o755) | 0o700 : mode & 0o744;
      if (wanted !== mode) await chmod(file, wanted);
    });
  }
  return taken;
}
