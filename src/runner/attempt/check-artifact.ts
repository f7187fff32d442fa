import type { ProducedArtifact } from "../../engine/record-phase-result.ts";
import type { Registry } from "../../registry/types.ts";
import { readAgentFile } from "../agent-files.ts";

/** The most an artifact may weigh: it is data for people and later prompts, not a payload. */
export const MAX_ARTIFACT_BYTES = 1024 * 1024;

/**
 * Reads the artifact the agent wrote — as data: never through a link, never a
 * special file, never more than {@link MAX_ARTIFACT_BYTES} — parses and validates
 * it. Whatever is wrong with it is a validation error the repair prompt can name.
 */
export async function checkArtifact(options: {
  registry: Registry;
  schemaId: string;
  workspace: string;
  outputPath: string;
  revision: number;
}): Promise<ProducedArtifact> {
  const { revision } = options;
  const read = await readAgentFile(options.workspace, options.outputPath, MAX_ARTIFACT_BYTES);
  if (read.status === "refused") {
    return {
      revision,
      content: null,
      valid: false,
      errors: [`/: devflow did not read it: ${read.reason}`],
    };
  }
  if (read.status === "missing" || read.text.trim() === "") {
    return { revision, content: null, valid: false, errors: ["/: the agent wrote no artifact"] };
  }
  let content: unknown;
  try {
    content = JSON.parse(read.text);
  } catch (error) {
    return {
      revision,
      content: null,
      valid: false,
      errors: [`/: not JSON (${(error as Error).message})`],
    };
  }
  const result = options.registry.validate(options.schemaId, content);
  return { revision, content, valid: result.ok, errors: result.ok ? [] : result.errors };
}
