import { constants } from "node:fs";
import { lstat, mkdir, open, unlink } from "node:fs/promises";
import { join, normalize, sep } from "node:path";
import { removeTree } from "./workspaces/remove-tree.ts";

/**
 * Files in an agent's workspace are data, never paths to follow. The agent may
 * have left a symlink, a FIFO or a device node where devflow expects its files
 * (`.devflow/runs/<run>/<phase>.json` → /etc/shadow, `<phase>.md` → ~/.bashrc);
 * these functions never follow a link in any component of the path and never
 * read or write anything but a regular file inside the workspace. They run after
 * the agent's sandbox has ended, so nothing can swap a path between the checks
 * and the use.
 */

/** A relative path inside the workspace, as components; refuses absolute paths and `..`. */
function components(relativePath: string): string[] {
  const clean = normalize(relativePath);
  const parts = clean.split(sep).filter((part) => part !== "" && part !== ".");
  if (clean.startsWith(sep) || parts.includes("..") || parts.length === 0) {
    throw new Error(`${relativePath} is not a path inside the workspace`);
  }
  return parts;
}

export type AgentFileRead =
  | { status: "ok"; text: string }
  | { status: "missing" }
  /** Something is there, but not a regular file devflow will read (a link, a FIFO, too big). */
  | { status: "refused"; reason: string };

/**
 * Reads `relativePath` under `root` if it is a regular file reached through real
 * directories only, and at most `maxBytes` long.
 */
export async function readAgentFile(
  root: string,
  relativePath: string,
  maxBytes: number,
): Promise<AgentFileRead> {
  const parts = components(relativePath);
  let path = root;
  for (const [index, part] of parts.entries()) {
    path = join(path, part);
    let stats: Awaited<ReturnType<typeof lstat>>;
    try {
      stats = await lstat(path);
    } catch {
      return { status: "missing" };
    }
    const last = index === parts.length - 1;
    if (stats.isSymbolicLink()) {
      return {
        status: "refused",
        reason: `${parts.slice(0, index + 1).join("/")} is a symbolic link`,
      };
    }
    if (!last && !stats.isDirectory()) return { status: "missing" };
    if (last && !stats.isFile()) {
      return { status: "refused", reason: `${relativePath} is not a regular file` };
    }
  }
  // O_NOFOLLOW and O_NONBLOCK: a link or a FIFO put there after all is refused, not waited on.
  const handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    const stats = await handle.stat();
    if (!stats.isFile())
      return { status: "refused", reason: `${relativePath} is not a regular file` };
    if (stats.nlink > 1) {
      return { status: "refused", reason: `${relativePath} is a hard link to another file` };
    }
    if (stats.size > maxBytes) {
      return {
        status: "refused",
        reason: `${relativePath} is ${stats.size} bytes, more than the ${maxBytes} an artifact may have`,
      };
    }
    return { status: "ok", text: await handle.readFile("utf8") };
  } finally {
    await handle.close();
  }
}

/**
 * Writes `text` to `relativePath` under `root`, making the directories on the way
 * as real directories: whatever the agent left in their place or the file's
 * (a link, a file, a FIFO) is removed first — a link is removed, never followed.
 */
export async function writeDevflowFile(
  root: string,
  relativePath: string,
  text: string,
): Promise<void> {
  const parts = components(relativePath);
  let path = root;
  for (const [index, part] of parts.entries()) {
    path = join(path, part);
    const last = index === parts.length - 1;
    const stats = await lstat(path).catch(() => null);
    if (stats !== null && (last ? !stats.isFile() : !stats.isDirectory())) {
      if (stats.isDirectory()) await removeTree(path);
      else await unlink(path);
    } else if (stats !== null && last && stats.nlink > 1) {
      // A hard link to a file elsewhere: writing through it would change that file.
      await unlink(path);
    }
    if (!last && (stats === null || !stats.isDirectory())) await mkdir(path);
  }
  const handle = await open(
    path,
    constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW,
    0o644,
  );
  try {
    await handle.writeFile(text);
  } finally {
    await handle.close();
  }
}

/**
 * Removes `relativePath` under `root` if it is reached through real directories
 * (a file, a link or a directory there goes; a link on the way means the path is
 * not inside the workspace, and nothing is removed).
 */
export async function removeAgentFile(root: string, relativePath: string): Promise<void> {
  const parts = components(relativePath);
  let path = root;
  for (const [index, part] of parts.entries()) {
    path = join(path, part);
    const stats = await lstat(path).catch(() => null);
    if (stats === null) return;
    if (index < parts.length - 1) {
      if (!stats.isDirectory()) return;
    } else if (stats.isDirectory()) {
      await removeTree(path);
    } else {
      await unlink(path);
    }
  }
}
