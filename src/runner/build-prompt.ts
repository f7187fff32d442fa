import type { AttemptFeedback } from "../db/schema/index.ts";

export interface PromptInput {
  persona: string;
  phaseTitle: string;
  instructions: string;
  issueTitle: string;
  requirements: string;
  earlierArtifacts: { phaseKey: string; schemaId: string; content: unknown }[];
  feedback: AttemptFeedback | null;
  /** Validation errors of the previous revision, when this is the repair. */
  repairErrors: string[];
  agentsMd: string | null;
  schemaId: string;
  schema: unknown;
  outputPath: string;
}

/**
 * Removes what a person cannot see but an agent would read: HTML comments
 * (devflow's own directives included), zero-width and bidi control characters.
 */
export function sanitiseIssueText(text: string): string {
  return text
    .replace(/<!--[\s\S]*?(-->|$)/g, "")
    .replace(/[\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF\u00AD]/g, "")
    .trim();
}

/** The prompt of one execution, in the order an agent should read it. */
export function buildPrompt(input: PromptInput): string {
  const sections = [
    input.persona.trim(),
    `# Phase: ${input.phaseTitle}\n\n${input.instructions.trim()}`,
    `# The issue: ${sanitiseIssueText(input.issueTitle)}\n\n${sanitiseIssueText(input.requirements)}`,
  ];
  for (const artifact of input.earlierArtifacts) {
    sections.push(
      `# Approved ${artifact.phaseKey} (${artifact.schemaId})\n\n\`\`\`json\n${JSON.stringify(artifact.content, null, 2)}\n\`\`\``,
    );
  }
  if (input.feedback !== null) {
    const comments = input.feedback.comments
      .map(
        (comment) =>
          `- ${comment.path === undefined ? "" : `${comment.path}${comment.line === undefined ? "" : `:${comment.line}`}: `}${comment.body}`,
      )
      .join("\n");
    sections.push(
      `# Review feedback on the previous attempt${input.feedback.actor === null ? "" : ` from ${input.feedback.actor}`}\n\n${input.feedback.body}${comments === "" ? "" : `\n\n${comments}`}`,
    );
  }
  if (input.agentsMd !== null)
    sections.push(`# The repository's AGENTS.md\n\n${input.agentsMd.trim()}`);
  if (input.repairErrors.length > 0) {
    sections.push(
      `# Your previous output was invalid\n\nFix these errors and write the whole artifact again:\n${input.repairErrors.map((error) => `- ${error}`).join("\n")}`,
    );
  }
  sections.push(
    `# Output\n\nWrite one JSON document valid against ${input.schemaId} to \`${input.outputPath}\`:\n\n\`\`\`json\n${JSON.stringify(input.schema, null, 2)}\n\`\`\``,
  );
  return `${sections.join("\n\n")}\n`;
}
