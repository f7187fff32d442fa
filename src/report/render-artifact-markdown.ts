/** Renders an artifact for people reading the run branch; the JSON next to it is the contract. */
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
  const text = (item: unknown) => String(item ?? "");
  switch (schemaId) {
    case "dev/spec@1":
      return [
        `# ${text(v.title)}`,
        "",
        text(v.summary),
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
        `# ${phaseTitle}`,
        "",
        text(v.summary),
        "",
        "| phase | title | role | artifact |",
        "|---|---|---|---|",
        ...(Array.isArray(v.phases) ? v.phases : []).map(
          (p: Record<string, unknown>) =>
            `| ${text(p.key)} | ${text(p.title)} | ${text(p.role)} | ${p.artifactSchema === null ? "none (skipped)" : text(p.artifactSchema)} |`,
        ),
        "",
      ].join("\n");
    case "dev/implementation@1":
      return [
        `# ${phaseTitle}`,
        "",
        text(v.summary),
        "",
        "## Files changed",
        list(
          v.filesChanged,
          (f) =>
            `\`${text(f.path)}\` (${text(f.change)})${f.description ? `: ${text(f.description)}` : ""}`,
        ),
        "",
        "## Tests run",
        list(v.testsRun, (t) => `\`${text(t.command)}\`: ${text(t.result)}`),
        "",
        "## Follow-ups",
        list(v.followUps, (f) => text(f)),
        "",
      ].join("\n");
    default:
      return `# ${phaseTitle}\n\n\`\`\`json\n${JSON.stringify(value, null, 2)}\n\`\`\`\n`;
  }
}
