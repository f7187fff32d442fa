import { untrusted } from "../security/untrusted-text.ts";

/**
 * Renders an artifact for people: on the run branch beside its JSON (the
 * contract), and in its phase's check, where a person at a gate reads what they
 * approve. Every value is the agent's, so each goes in as untrusted text: a
 * line's worth inline, a summary as a quoted block, paths and commands as code.
 */
export function renderArtifactMarkdown(
  schemaId: string,
  phaseTitle: string,
  value: unknown,
): string {
  const v = (value ?? {}) as Record<string, unknown>;
  const list = (items: unknown, show: (item: Record<string, unknown>) => string) =>
    Array.isArray(items) && items.length > 0
      ? items.map((item) => `- ${show(item as Record<string, unknown>)}`).join("\n")
      : "_None._";
  const text = (item: unknown) => untrusted.inline(String(item ?? ""));
  const cell = (item: unknown) => untrusted.cell(String(item ?? ""));
  const code = (item: unknown) => untrusted.code(String(item ?? ""));
  const summary = untrusted.block(String(v.summary ?? ""));
  switch (schemaId) {
    case "dev/spec@1":
      return [
        `# ${text(v.title)}`,
        "",
        summary,
        "",
        "## Goals",
        list(v.goals, (g) => text(g)),
        "",
        "## Non-goals",
        list(v.nonGoals, (g) => text(g)),
        "",
        "## Requirements",
        list(v.requirements, (r) => `**${text(r.id)}** ${text(r.text)}`),
        "",
        "## Acceptance criteria",
        list(
          v.acceptanceCriteria,
          (c) => `**${text(c.id)}** ${text(c.text)} _(verified by: ${text(c.verification)})_`,
        ),
        "",
        "## Open questions",
        list(v.openQuestions, (q) => text(q)),
        "",
        "## Risks",
        list(v.risks, (r) => text(r)),
        "",
      ].join("\n");
    case "dev/phase-plan@1":
      return [
        `# ${text(phaseTitle)}`,
        "",
        summary,
        "",
        "| phase | title | role | artifact |",
        "|---|---|---|---|",
        ...(Array.isArray(v.phases) ? v.phases : []).map(
          (p: Record<string, unknown>) =>
            `| ${cell(p.key)} | ${cell(p.title)} | ${cell(p.role)} | ${p.artifactSchema === null ? "none (skipped)" : cell(p.artifactSchema)} |`,
        ),
        "",
      ].join("\n");
    case "dev/implementation@1":
      return [
        `# ${text(phaseTitle)}`,
        "",
        summary,
        "",
        "## Files changed",
        list(
          v.filesChanged,
          (f) =>
            `${code(f.path)} (${text(f.change)})${f.description ? `: ${text(f.description)}` : ""}`,
        ),
        "",
        "## Tests run",
        list(v.testsRun, (t) => `${code(t.command)}: ${text(t.result)}`),
        "",
        "## Follow-ups",
        list(v.followUps, (f) => text(f)),
        "",
      ].join("\n");
    default:
      return `# ${text(phaseTitle)}\n\n${untrusted.fenced(JSON.stringify(value, null, 2), "json")}\n`;
  }
}
