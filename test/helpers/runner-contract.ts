import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { eq } from "drizzle-orm";
import { expect } from "vitest";
import { phaseAttempts } from "../../src/db/schema/index.ts";
import { git, tempDir } from "./git-fixtures.ts";
import type { Harness } from "./harness.ts";

/** The run branch's commits, newest first, with their trailers. */
export function branchCommits(remote: string, branch: string) {
  const log = git(
    remote,
    "log",
    branch,
    "--format=%H%x1f%s%x1f%(trailers:key=Devflow-Run,valueonly=true,separator=)%x1f%(trailers:key=Devflow-Phase,valueonly=true,separator=)%x1f%(trailers:key=Devflow-Attempt,valueonly=true,separator=)%x1e",
  );
  return log
    .split("\x1e")
    .map((entry) => entry.trim())
    .filter((entry) => entry !== "")
    .map((entry) => {
      const [sha, subject, run, phase, attempt] = entry.split("\x1f");
      return {
        sha,
        subject,
        run,
        phase,
        attempt: attempt === undefined || attempt === "" ? undefined : Number(attempt),
      };
    });
}

/** The files on the run branch, as a fresh clone sees them. */
export function branchFiles(remote: string, branch: string): Map<string, string> {
  const clone = tempDir("inspect");
  git(clone, "clone", "-q", "--branch", branch, remote, ".");
  const files = new Map<string, string>();
  const walk = (dir: string, prefix: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.name === ".git") continue;
      const path = `${prefix}${entry.name}`;
      if (entry.isDirectory()) walk(`${dir}/${entry.name}`, `${path}/`);
      else files.set(path, readFileSync(`${dir}/${entry.name}`, "utf8"));
    }
  };
  walk(clone, "");
  return files;
}

/** Every process whose environment names this run: what an execution left running. */
export function processesOfRun(runId: string): number[] {
  const out = execFileSync(
    "sh",
    ["-c", `grep -l "DEVFLOW_RUN_ID=${runId}" /proc/[0-9]*/environ 2>/dev/null || true`],
    { encoding: "utf8" },
  );
  return out
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => Number(line.split("/")[2]));
}

/**
 * Drives a development@1 run through both gates and checks what a runner backend
 * must leave behind: one commit per phase attempt with its trailers, the
 * artifacts and their Markdown on the run branch, and each attempt's commit recorded.
 */
export async function fullRunLeavesCommits(h: Harness, remote: string) {
  const { runId } = await h.start({ cloneUrl: remote });
  await h.approve(runId, "spec_approved");
  await h.approve(runId, "phase_plan_approved");
  const done = await h.waitForState(runId, "completed", 60_000);
  const branch = done.run.branch;
  const commits = branchCommits(remote, branch);
  const ours = commits.filter((commit) => commit.run === runId);
  expect(ours.map((commit) => [commit.phase, commit.attempt])).toEqual([
    ["implement", 1],
    ["phase_plan", 1],
    ["spec", 1],
  ]);
  expect(commits.at(-1)?.subject).toBe("initial");
  const files = branchFiles(remote, branch);
  for (const phase of ["spec", "phase_plan", "implement"]) {
    expect(JSON.parse(files.get(`.devflow/runs/${runId}/${phase}.json`) ?? "null")).not.toBeNull();
    expect(files.get(`.devflow/runs/${runId}/${phase}.md`)).toMatch(/^# /);
  }
  const attempts = await h.db.select().from(phaseAttempts).where(eq(phaseAttempts.runId, runId));
  expect(new Set(attempts.map((attempt) => attempt.commitSha))).toEqual(
    new Set(ours.map((commit) => commit.sha)),
  );
  return { runId, branch, files, done };
}
