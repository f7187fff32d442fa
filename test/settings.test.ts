import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { runBranchName } from "../src/engine/start-run.ts";
import { readSettings } from "../src/settings.ts";

describe("settings", () => {
  it("has defaults that run devflow with an embedded database and the process runner", () => {
    const settings = readSettings({});
    expect(settings).toMatchObject({
      databaseUrl: undefined,
      dataDir: resolve(".data"),
      runner: "process",
      agent: undefined,
      maxActiveRuns: 20,
      maxActiveRunsPerRepository: 5,
      maxCostUsdPerRun: undefined,
      docker: {
        image: "devflow-runner:latest",
        network: "none",
        cpus: 2,
        memoryMb: 4096,
        pids: 512,
        socketPath: undefined,
      },
    });
  });

  it("reads every variable, and says which one is wrong", () => {
    expect(
      readSettings({
        DATABASE_URL: "postgres://x/y",
        DEVFLOW_AGENT: "scripted",
        DEVFLOW_MAX_ACTIVE_RUNS: "3",
        DOCKER_HOST: "unix:///run/d.sock",
        DEVFLOW_DOCKER_CPUS: "1.5",
        DEVFLOW_MAX_COST_USD_PER_RUN: "2.50",
      }),
    ).toMatchObject({
      databaseUrl: "postgres://x/y",
      agent: "scripted",
      maxActiveRuns: 3,
      maxCostUsdPerRun: 2.5,
      docker: { socketPath: "/run/d.sock", cpus: 1.5 },
    });
    expect(() => readSettings({ DEVFLOW_MAX_ACTIVE_RUNS: "many" })).toThrow(
      'DEVFLOW_MAX_ACTIVE_RUNS must be an integer >= 1, got "many"',
    );
    expect(() => readSettings({ DEVFLOW_RUNNER: "kubernetes" })).toThrow(
      'DEVFLOW_RUNNER must be one of process, docker, in-process; got "kubernetes"',
    );
    expect(() => readSettings({ DOCKER_HOST: "tcp://10.0.0.1:2375" })).toThrow(
      /DOCKER_HOST must be a unix:\/\/ socket/,
    );
    expect(() => readSettings({ DEVFLOW_MAX_COST_USD_PER_RUN: "-1" })).toThrow(
      /must be a positive number/,
    );
  });

  it("names run branches devflow/<issue>-<slug>, an issue's later runs -run<n>", () => {
    expect(runBranchName(42, "Add a widget", 3)).toBe("devflow/42-add-a-widget-run3");
    expect(runBranchName(42, "Add a Widget: now with 100% more spin!")).toBe(
      "devflow/42-add-a-widget-now-with-100-more-spin",
    );
    expect(runBranchName(7, "¿¿??")).toBe("devflow/7");
    expect(runBranchName(9, "x".repeat(80))).toBe(`devflow/9-${"x".repeat(40)}`);
  });
});
