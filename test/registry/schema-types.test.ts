import { describe, expect, it } from "vitest";
import { loadRegistry } from "../../src/registry/load-registry.ts";
import type { PersonaDefinition, PhasePlan, TemplateDefinition } from "../../src/registry/types.ts";
import type { FinalReport } from "../../src/report/final-report.ts";

/**
 * The TypeScript types are written by hand next to their schemas; these checks
 * fail when one changes without the other. Each sample is typed, so a field the
 * type lacks does not compile, and the schema must accept it with every field the
 * type has — and require the same fields the type requires.
 */
const registry = loadRegistry();

function properties(
  schemaId: string,
  pointer: string[] = [],
): { keys: string[]; required: string[] } {
  let node = registry.schemas.get(schemaId)?.definition as Record<string, unknown>;
  for (const step of pointer) node = (node[step] ?? {}) as Record<string, unknown>;
  return {
    keys: Object.keys((node.properties ?? {}) as object).sort(),
    required: [...((node.required ?? []) as string[])].sort(),
  };
}

describe("types agree with their schemas", () => {
  it("registry/template@1 and TemplateDefinition", () => {
    const sample: Required<TemplateDefinition> = {
      name: "t",
      version: 1,
      description: "d",
      roles: { writer: { persona: "spec-writer@1", agent: "scripted" } },
      maxAttempts: 2,
      phases: [
        {
          key: "a",
          title: "A",
          role: "writer",
          artifact: "dev/spec@1",
          gate: "a_ok",
          expandsPlan: false,
          runState: "executing",
          instructions: "",
        },
      ],
    };
    expect(registry.validate("registry/template@1", sample)).toEqual({ ok: true });
    expect(properties("registry/template@1").keys).toEqual(Object.keys(sample).sort());
    const phase = sample.phases[0] ?? {};
    expect(properties("registry/template@1", ["properties", "phases", "items"]).keys).toEqual(
      Object.keys(phase).sort(),
    );
    expect(properties("registry/template@1", ["properties", "phases", "items"]).required).toEqual([
      "artifact",
      "key",
      "role",
      "title",
    ]);
  });

  it("registry/persona@1 and PersonaDefinition", () => {
    const sample: Required<PersonaDefinition> = { name: "p", version: 1, description: "d" };
    expect(registry.validate("registry/persona@1", sample)).toEqual({ ok: true });
    expect(properties("registry/persona@1").required).toEqual(Object.keys(sample).sort());
  });

  it("dev/phase-plan@1 and PhasePlan", () => {
    const sample: PhasePlan = {
      summary: "s",
      phases: [
        { key: "a", title: "A", role: "implementer", artifactSchema: null, instructions: "" },
      ],
    };
    expect(registry.validate("dev/phase-plan@1", sample)).toEqual({ ok: true });
    expect(properties("dev/phase-plan@1", ["properties", "phases", "items"]).required).toEqual(
      Object.keys(sample.phases[0] ?? {}).sort(),
    );
  });

  it("common/final-report@1 and FinalReport", () => {
    const sample: Required<FinalReport> = {
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
          durationMs: 10,
          costUsd: null,
          workingMs: 8,
          waitingMs: 0,
        },
      ],
      approvals: [{ gateKey: "spec_approved", state: "aborted", actor: null, at: null }],
      artifacts: [{ phaseKey: "spec", schemaId: "dev/spec@1", path: "p", valid: false }],
      unresolved: ["x"],
      work: {
        summary: "s",
        filesChanged: [{ path: "a.ts", change: "added", description: "d" }],
        testsRun: [{ command: "npm test", result: "passed", details: "1 passed" }],
        followUps: ["f"],
      },
      openQuestions: ["q"],
      risks: ["r"],
      failure: { category: "agent_error", code: "c", message: "m" },
      totals: { durationMs: 1000, costUsd: 0, attempts: 1 },
    };
    expect(registry.validate("common/final-report@1", sample)).toEqual({ ok: true });
    expect(properties("common/final-report@1").keys).toEqual(Object.keys(sample).sort());
    const { failure: _failure, ...completed } = sample;
    expect(
      registry.validate("common/final-report@1", { ...completed, status: "completed" }),
    ).toEqual({ ok: true });
    expect(registry.validate("common/final-report@1", { ...sample, status: "completed" }).ok).toBe(
      false,
    );
    expect(registry.validate("common/final-report@1", { ...completed, status: "failed" }).ok).toBe(
      false,
    );
  });
});
