import type { FileProblems } from "./read-repository-template.ts";

/** Inside a code span a backtick would end it: what a file's author wrote is shown, not rendered. */
const code = (text: string) => `\`${text.replaceAll("`", "'")}\``;

/**
 * The reply to a label when files devflow reads from the default branch are
 * invalid (the repository's config, or its own template and personas): each file
 * with its errors, JSON pointers first, and what to do.
 *
 * @example
 * invalidFilesMessage("main", [{ path: ".github/devflow.yml", errors: ["/: must be object"] }]);
 */
export function invalidFilesMessage(ref: string, problems: FileProblems[]): string {
  const list = (errors: string[]) => errors.map((error) => `- ${code(error)}`).join("\n");
  const [only] = problems;
  const body =
    problems.length === 1 && only !== undefined
      ? `${code(only.path)} on ${code(ref)} is invalid.\n\n${list(only.errors)}`
      : `files on ${code(ref)} are invalid.\n\n${problems
          .map((problem) => `${code(problem.path)}:\n${list(problem.errors)}`)
          .join("\n\n")}`;
  return `devflow did not start: ${body}\n\nFix it and add the label again.`;
}
