import { describe, expect, it } from "vitest";
import { renderReportMarkdown } from "../../src/report/render-report-markdown.ts";
import { untrustedMarkdown } from "../../src/report/untrusted-markdown.ts";

const ZWSP = "\u200b";

describe("an agent's words published on GitHub", () => {
  it("mention no one, close no issue and load no image; they read the same", () => {
    const hostile =
      "Fixes #1, closes other-org/other-repo#2, Resolved: #3. cc @octocat @acme/everyone ![](https://tracker.example/p.gif) mail me@example.com";
    const safe = untrustedMarkdown(hostile);
    expect(safe).not.toMatch(/(^|[^\w])@[A-Za-z0-9]/);
    expect(safe).not.toMatch(/\b(fix|fixes|closes|resolved)\b\s*:?\s*[\w/-]*#\d/i);
    expect(safe).not.toContain("![");
    expect(safe).toContain("me@example.com");
    expect(safe.replaceAll(ZWSP, "")).toBe(hostile);
  });

  it("in the report, whatever field the agent filled", () => {
    const markdown = renderReportMarkdown({
      runId: "6f1c0c5e-8f4a-4a37-9d55-3e0e8f0b1a2c",
      status: "completed",
      repository: "o/r",
      issue: 1,
      pullRequest: null,
      template: "development@1",
      startedAt: new Date(0).toISOString(),
      endedAt: new Date(1000).toISOString(),
      phases: [],
      approvals: [],
      artifacts: [],
      unresolved: [],
      work: {
        summary: "Fixes #9 for @alice",
        filesChanged: [{ path: "a.ts", change: "added", description: "closes #8" }],
        testsRun: [{ command: "npm test", result: "passed", details: "@bob ![x](y)" }],
        followUps: ["resolve #7"],
      },
      openQuestions: ["@carol?"],
      risks: ["fix #6"],
      totals: { durationMs: 1000, costUsd: 0, attempts: 0 },
    });
    expect(markdown).not.toMatch(/(^|[^\w])@[A-Za-z0-9]/);
    expect(markdown).not.toMatch(/\b(fixes|closes|resolve|fix)\s+#\d/i);
    expect(markdown).not.toContain("![");
  });
});
