import { DevflowError } from "../../errors.ts";
import { runGit } from "./run-git.ts";

export interface RefuseGitlinksOptions {
  gitDir: string;
  tree: string;
}

/**
 * The last word on what is staged: an entry the commit would add or change as a
 * gitlink (mode 160000, a link to a commit of another repository) stops it. The
 * nested repositories are removed before staging, so this finds one only if
 * something got past that; a gitlink the base branch already has, unchanged, is
 * not in the diff. Submodule settings (an agent's `.gitmodules` saying
 * `ignore = all`) cannot hide one: the command line sets them to none.
 */
export async function refuseGitlinks(options: RefuseGitlinksOptions): Promise<void> {
  const raw = await runGit({
    gitDir: options.gitDir,
    workTree: options.tree,
    args: [
      "diff",
      "--cached",
      "--raw",
      "-z",
      "--no-renames",
      "--no-abbrev",
      "--ignore-submodules=none",
    ],
  });
  // `:<old mode> <new mode> <old sha> <new sha> <status>` NUL `<path>` NUL, per entry.
  const fields = raw.split("\0");
  let gitlinks = 0;
  for (let index = 0; index + 1 < fields.length; index += 2) {
    const [, newMode, , , status] = (fields[index] ?? "").split(" ");
    if (newMode === "160000" && status !== "D") gitlinks += 1;
  }
  if (gitlinks === 0) return;
  throw new DevflowError(
    `devflow did not push this attempt: its commit would record ${gitlinks} link(s) to another git repository (gitlinks, mode 160000), which devflow never commits`,
    { class: "fatal", code: "gitlink_in_commit", category: "git" },
  );
}
