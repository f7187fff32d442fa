import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { runBranchName } from "../src/engine/start-run.ts";
import { readSettings } from "../src/settings.ts";

describe("settings", () => {
  it("has defaults that run devflow with an embedded database", () => {
    const settings = readSettings({});
    expect(settings).toMatchObject({
      databaseUrl: undefined,
      dataDir: resolve(".data"),
      runner: "in-process",
      agent: undefined,
      maxActiveRuns: 20,
      maxActiveRunsPerRepository: 5,
    });
  });

  it("reads every variable, and says which one is wrong", () => {
    expect(
      readSettings({
        DATABASE_URL: "postgres://x/y",
        DEVFLOW_AGENT: "scripted",
        DEVFLOW_MAX_ACTIVE_RUNS: "3",
      }),
    ).toMatchObject({
      databaseUrl: "postgres://x/y",
      agent: "scripted",
      maxActiveRuns: 3,
    });
    expect(() => readSettings({ DEVFLOW_MAX_ACTIVE_RUNS: "many" })).toThrow(
      'DEVFLOW_MAX_ACTIVE_RUNS must be an integer >= 1, got "many"',
    );
    expect(() => readSettings({ DEVFLOW_RUNNER: "kubernetes" })).toThrow(
      /DEVFLOW_RUNNER=kubernetes is not available/,
    );
  });

  it("names run branches devflow/<issue>-<slug>", () => {
    expect(runBranchName(42, "Add a Widget: now with 100% more spin!")).toBe(
      "devflow/42-add-a-widget-now-with-100-more-spin",
    );
    expect(runBranchName(7, "¿¿??")).toBe("devflow/7");
    expect(runBranchName(9, "x".repeat(80))).toBe(`devflow/9-${"x".repeat(40)}`);
  });
});
