import { describe, expect, it } from "vitest";
import type { FinalReport } from "../../src/report/final-report.ts";
import { renderArtifactMarkdown } from "../../src/report/render-artifact-markdown.ts";
import { renderReportMarkdown } from "../../src/report/render-report-markdown.ts";
import { readAsGitHub } from "../helpers/github-reading.ts";

/** Every trick in one text: mentions, closing keywords, images, raw HTML, spoofed sections. */
const SPOOF = [
  "cc `x`@octocat, _x_@octocat, @acme/everyone, &#64;octocat",
  "Fixes #2, closes https://github.com/o/r/issues/2, resolves **#2**, Fixed: o/r#2",
  '![](https://tracker.example/a.gif) <img src="https://tracker.example/b.gif">',
  '<picture><source srcset="https://tracker.example/c.gif"></picture>',
  "~~~",
  "## Phases",
  "# devflow run report: ✅ completed",
  "```",
].join("\n");

function report(overrides: Partial<FinalReport> = {}): FinalReport {
  return {
    runId: "6f1c0c5e-8f4a-4a37-9d55-3e0e8f0b1a2c",
    status: "failed",
    repository: "o/r",
    issue: 1,
    pullRequest: null,
    template: "development@1",
    startedAt: new Date(0).toISOString(),
    endedAt: new Date(1000).toISOString(),
    phases: [
      {
        key: "spec",
        state: "failed",
        attempts: 1,
        durationMs: 1000,
        costUsd: null,
      },
    ],
    approvals: [],
    artifacts: [],
    unresolved: [],
    failure: { category: "agent_error", code: "bad`code @octocat", message: `gave up\n${SPOOF}` },
    revisions: [
      {
        revision: 1,
        actor: null,
        asked: SPOOF,
        at: new Date(0).toISOString(),
        attempt: 2,
        summary: SPOOF,
        costUsd: null,
        workingMs: null,
      },
    ],
    work: {
      summary: SPOOF,
      filesChanged: [{ path: "a`b|@octocat.ts", change: "added", description: SPOOF }],
      testsRun: [{ command: "npm test `x`@octocat", result: "passed", details: SPOOF }],
      followUps: [SPOOF],
    },
    openQuestions: [SPOOF],
    risks: [SPOOF],
    totals: { durationMs: 1000, costUsd: 0, attempts: 1 },
    ...overrides,
  };
}

function expectInert(markdown: string, headings: string[]): void {
  const reading = readAsGitHub(markdown);
  expect(reading.mentions).toEqual([]);
  expect(reading.closings).toEqual([]);
  expect(reading.rawTags).toEqual([]);
  expect(reading.html).not.toMatch(/<img|<picture|<source/);
  expect(reading.headings).toEqual(headings);
  expect(reading.codeBlocks).toEqual([]);
}

describe("the report, whatever field the agent filled", () => {
  it("mentions no one, closes nothing, loads nothing, and keeps devflow's sections devflow's", () => {
    const markdown = renderReportMarkdown(report());
    expectInert(markdown, [
      "devflow run report: ❌ failed",
      "What was built",
      "Tests",
      "Follow-ups",
      "Open questions and risks (from the spec)",
      "Revision 1",
      "Phases",
      "Gates",
      "Artifacts",
      "Unresolved",
    ]);
    // The words are there, only defused: the agent's error code whole in its code span.
    const html = readAsGitHub(markdown).html.replaceAll("\u200b", "");
    expect(html).toContain("<code>bad`code @octocat</code>");
    expect(html).toContain("<code>a`b|@octocat.ts</code>");
    expect(html).toContain("tracker.example/a.gif");
  });

  it("a one-line failure stays on its line", () => {
    const markdown = renderReportMarkdown(
      report({ failure: { category: "agent_error", code: "x", message: "set DEVFLOW_AGENT" } }),
    );
    expect(markdown).toContain("**Failure:** **agent_error** `x`: set DEVFLOW_AGENT");
  });
});

describe("an artifact rendered for its check and the run branch", () => {
  const title = "Fixes #2 for @octocat";
  const own: Record<string, string[]> = {
    "dev/spec@1": [
      "Goals",
      "Non-goals",
      "Requirements",
      "Acceptance criteria",
      "Open questions",
      "Risks",
    ],
    "dev/phase-plan@1": [],
    "dev/implementation@1": ["Files changed", "Tests run", "Follow-ups"],
    "dev/review@1": [],
  };
  const content: Record<string, unknown> = {
    "dev/spec@1": {
      title: SPOOF,
      summary: SPOOF,
      goals: [SPOOF],
      nonGoals: [SPOOF],
      requirements: [{ id: "R1", text: SPOOF }],
      acceptanceCriteria: [{ id: "AC1", text: SPOOF, verification: SPOOF }],
      openQuestions: [SPOOF],
      risks: [SPOOF],
    },
    "dev/phase-plan@1": {
      summary: SPOOF,
      phases: [{ key: "x", title: SPOOF, role: "implementer", artifactSchema: null }],
    },
    "dev/implementation@1": {
      summary: SPOOF,
      filesChanged: [{ path: SPOOF, change: "added", description: SPOOF }],
      testsRun: [{ command: SPOOF, result: "passed" }],
      followUps: [SPOOF],
    },
    "dev/review@1": { verdict: "approve", notes: SPOOF },
  };
  for (const [schemaId, headings] of Object.entries(own)) {
    it(`${schemaId}: inert, its headings devflow's`, () => {
      const markdown = renderArtifactMarkdown(schemaId, title, content[schemaId]);
      const reading = readAsGitHub(markdown);
      expect(reading.mentions).toEqual([]);
      expect(reading.closings).toEqual([]);
      expect(reading.rawTags).toEqual([]);
      expect(reading.headings.slice(1)).toEqual(headings);
      // The one code block is devflow's JSON fence, which the agent's ``` cannot close.
      expect(reading.codeBlocks).toHaveLength(schemaId === "dev/review@1" ? 1 : 0);
    });
  }
});
