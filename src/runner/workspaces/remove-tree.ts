import { execFile } from "node:child_process";
import { chmod, lstat, readdir, rm, rmdir, unlink } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

/**
 * Removes `path` and everything under it without following a single symlink (a
 * link is removed, never its target), including directories an agent made
 * unreadable (`chmod 000`): each directory is made accessible to its owner before
 * it is read. Nothing outside `path` is touched. A missing path is fine.
 */
export async function removeTree(path: string): Promise<void> {
  try {
    // The fast path: fs.rm never follows symlinks either; it fails only on what an
    // agent made unreadable, which the walk below deals with.
    await rm(path, { recursive: true, force: true });
    return;
  } catch {
    // Then the walk; then GNU rm, which goes relative to each directory it opens: a
    // tree nested past PATH_MAX or named in bytes that are not UTF-8 defeats both
    // fs.rm and a walk by full paths, not it (as root it also reads what is unreadable).
    try {
      await walkAndRemove(path);
    } catch {
      await run("rm", ["-rf", "--one-file-system", "--", path]);
    }
  }
}

async function walkAndRemove(path: string): Promise<void> {
  let stats: Awaited<ReturnType<typeof lstat>>;
  try {
    stats = await lstat(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return;
    throw error;
  }
  if (!stats.isDirectory()) {
    await unlink(path);
    return;
  }
  if ((stats.mode & 0o700) !== 0o700) await chmod(path, 0o700);
  for (const name of await readdir(path)) await walkAndRemove(join(path, name));
  await rmdir(path);
}
