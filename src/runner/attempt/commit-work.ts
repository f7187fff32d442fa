import type { PhaseRow } from "../../db/rows.ts";
import type { ProducedArtifact } from "../../engine/record-phase-result.ts";
import { runDirectory } from "../../report/final-report.ts";
import { renderArtifactMarkdown } from "../../report/render-artifact-markdown.ts";
import type { Secrets } from "../../security/secrets.ts";
import { untrusted } from "../../security/untrusted-text.ts";
import { writeDevflowFile } from "../agent-files.ts";
import type { Workspace } from "../workspaces/workspaces.ts";
import { refuseSecrets } from "./scan-commit.ts";

export interface CommitWorkOptions {
  workspace: Workspace;
  secrets: Secrets;
  runId: string;
  phase: Pick<PhaseRow, "phaseKey" | "title">;
  attempt: number;
  schemaId: string;
  outputPath: string;
  /** The valid artifact, rendered to Markdown beside its JSON; none when the attempt failed. */
  artifact: ProducedArtifact | undefined;
  /** Why there is no valid artifact, for the commit message. */
  why: string;
}

/**
 * Commits what the attempt left in the workspace — the valid artifact with its
 * Markdown, or the partial work — with the attempt's trailers, after the secret
 * scan has seen everything staged. Returns the commit, or null when nothing
 * changed. Throws `secret_detected` when the work holds a protected value.
 * GitHub reads the messages of a merged pull request's commits for mentions and
 * closing keywords, and git refuses a NUL: the title can be a plan's, the reason
 * an agent's error, so both go in as untrusted text (after redaction, which must
 * see the secrets whole).
 */
export async function commitWork(options: CommitWorkOptions): Promise<string | null> {
  const { phase, attempt, schemaId, outputPath } = options;
  const valid = options.artifact !== undefined;
  if (options.artifact !== undefined) {
    await writeDevflowFile(
      options.workspace.path,
      outputPath.replace(/\.json$/, ".md"),
      renderArtifactMarkdown(schemaId, phase.title, options.artifact.content),
    );
  }
  const redact = (text: string) => options.secrets.redact(text);
  return options.workspace.commit({
    runId: options.runId,
    phaseKey: phase.phaseKey,
    attempt,
    title: untrusted.line(
      redact(
        valid
          ? `${phase.title} (attempt ${attempt})`
          : `partial work of ${phase.title} (attempt ${attempt})`,
      ),
    ),
    body: untrusted.plain(
      redact(
        valid
          ? `The ${schemaId} artifact is ${outputPath}.`
          : `The attempt did not produce a valid ${schemaId} artifact: ${options.why}.`,
      ),
    ),
    forceAdd: [runDirectory(options.runId)],
    review: refuseSecrets(options.secrets),
  });
}
