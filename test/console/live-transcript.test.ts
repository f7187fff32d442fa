import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runnerExecutions } from "../../src/db/schema/index.ts";
import { type Harness, startHarness } from "../helpers/harness.ts";

let h: Harness;

beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.stop();
});

const executionsOf = (runId: string) =>
  h.db.select().from(runnerExecutions).where(eq(runnerExecutions.runId, runId));

describe("an agent's session, kept while it runs", () => {
  it("stores the transcript line by line while the agent works, and each line once when it ends", async () => {
    const { runId } = await h.start({ scenarios: { spec: "slow" } });
    const live = await h.waitFor("a transcript growing while the agent runs", async () => {
      const [execution] = await executionsOf(runId);
      return execution?.state === "running" && execution.transcript.includes("step 2 of")
        ? execution
        : undefined;
    });
    expect(live.prompt).toContain("Add a widget");
    await h.waitForGate(runId, "spec_approved");
    const [done] = await executionsOf(runId);
    expect(done?.state).toBe("succeeded");
    const lines = (done?.transcript ?? "").split("\n").filter((line) => line !== "");
    expect(lines.filter((line) => line.includes("step 1 of"))).toHaveLength(1);
    expect(lines.filter((line) => line.includes("step 12 of"))).toHaveLength(1);
    expect(new Set(lines).size).toBe(lines.length);
    expect(lines.at(-1)).toMatch(/^devflow-usage:/);
  });
});
