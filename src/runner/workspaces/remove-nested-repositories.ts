import { randomUUID } from "node:crypto";
import type { Dirent } from "node:fs";
import { chmod, readdir, rename } from "node:fs/promises";
import { dirname, join } from "node:path";
import { removeTree } from "./remove-tree.ts";
import { shownPath } from "./shown-path.ts";

const SLASH = Buffer.from("/");
const DOT_GIT = Buffer.from(".git");

export interface RemoveNestedRepositoriesOptions {
  /** The agent's work tree, after its sandbox has ended. */
  tree: string;
}

/** `.git` in any case: what git takes for a repository, and never lets into a tree. */
function isGitName(name: Buffer): boolean {
  return name.length === DOT_GIT.length && name.toString("latin1").toLowerCase() === ".git";
}

/** A directory's entries by their raw names; one the agent made unreadable is opened to its owner first. */
async function entriesOf(dir: Buffer): Promise<Dirent<Buffer>[]> {
  try {
    return await readdir(dir, { withFileTypes: true, encoding: "buffer" });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== "EACCES" && code !== "EPERM") throw error;
    // git could still look into a directory it cannot list (`dir/.git` by name): so must devflow.
    await chmod(dir, 0o700);
    return readdir(dir, { withFileTypes: true, encoding: "buffer" });
  }
}

/**
 * Removes every `.git` below the top of the agent's work tree — a gitfile naming
 * another repository, a repository of the agent's own, a link to one — before
 * devflow stages anything, so `git add` never records a gitlink (mode 160000) nor
 * reads a repository through one; what else is in its directory is then plain
 * files of the work. The walk follows no link and reads names as bytes (a newline
 * or a byte that is not UTF-8 in a name is no hiding place); it runs after the
 * sandbox has ended, so nothing changes under it. The `.git` at the top is the
 * agent's own repository, which devflow's git never reads (every devflow command
 * names its own `GIT_DIR`, and git never stages a `.git`): it stays.
 *
 * Returns what it removed, sorted, as {@link shownPath} shows it.
 *
 * @example
 * await removeNestedRepositories({ tree }); // ["h2-leak/.git", "vendor/lib/.git"]
 */
export async function removeNestedRepositories(
  options: RemoveNestedRepositoriesOptions,
): Promise<string[]> {
  const root = Buffer.from(options.tree);
  const removed: string[] = [];
  const pending: Buffer[] = [Buffer.alloc(0)];
  for (let relative = pending.pop(); relative !== undefined; relative = pending.pop()) {
    const top = relative.length === 0;
    const dir = top ? root : Buffer.concat([root, SLASH, relative]);
    for (const entry of await entriesOf(dir)) {
      const path = top ? entry.name : Buffer.concat([relative, SLASH, entry.name]);
      if (top && entry.name.equals(DOT_GIT)) continue;
      if (isGitName(entry.name)) {
        // Moved out of the tree under a name of devflow's, then removed without following a link.
        const aside = join(dirname(options.tree), `nested-git-${randomUUID()}`);
        await rename(Buffer.concat([dir, SLASH, entry.name]), aside);
        await removeTree(aside);
        removed.push(shownPath(path));
      } else if (entry.isDirectory()) {
        pending.push(path);
      }
    }
  }
  return removed.sort();
}
