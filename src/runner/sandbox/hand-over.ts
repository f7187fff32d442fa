import { lchown, lstat, readdir } from "node:fs/promises";
import { join } from "node:path";

async function chownTree(path: string, uid: number, gid: number): Promise<void> {
  const stats = await lstat(path);
  if (stats.uid !== uid || stats.gid !== gid) await lchown(path, uid, gid);
  if (!stats.isDirectory()) return;
  for (const name of await readdir(path)) await chownTree(join(path, name), uid, gid);
}

/**
 * Gives the agent's user the directories it must write (its work tree and its
 * execution directory) when devflow runs as root and the agent as someone else.
 * Links are changed themselves (lchown), never followed. Nothing to do when
 * devflow is not root: the agent then runs as devflow's own user.
 */
export async function handOver(paths: string[], user: { uid: number; gid: number }): Promise<void> {
  if (process.getuid?.() !== 0) return;
  for (const path of paths) await chownTree(path, user.uid, user.gid);
}
