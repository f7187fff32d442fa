import { execFileSync } from "node:child_process";
import { mkdtempSync, realpathSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const identity = ["-c", "user.name=Devflow Test", "-c", "user.email=devflow@example.test"];

export function git(cwd: string, ...args: string[]): string {
  return execFileSync("git", [...identity, ...args], { cwd, encoding: "utf8" }).trim();
}

export function tempDir(prefix: string): string {
  return realpathSync(mkdtempSync(join(tmpdir(), `devflow-${prefix}-`)));
}

/** A bare repository with `main` holding one commit: the remote a run works against. */
export function createBareRemote(readme = "# Fixture\n"): string {
  const bare = tempDir("remote");
  git(bare, "init", "--bare", "-b", "main");
  const seed = tempDir("seed");
  git(seed, "init", "-b", "main");
  writeFileSync(join(seed, "README.md"), readme);
  git(seed, "add", "README.md");
  git(seed, "commit", "-m", "initial");
  git(seed, "push", bare, "main");
  return bare;
}

/** Commits a file on `branch` of `remote` from a scratch clone; returns the commit sha. */
export function commitOnRemote(
  remote: string,
  branch: string,
  file: string,
  text: string,
  from = "main",
): string {
  const work = tempDir("work");
  git(work, "clone", "-q", remote, ".");
  git(work, "checkout", "-q", "-B", branch, `origin/${from}`);
  writeFileSync(join(work, file), text);
  git(work, "add", file);
  git(work, "commit", "-q", "-m", `change ${file}`);
  git(work, "push", "-q", "origin", branch);
  return git(work, "rev-parse", "HEAD");
}
