import type { PlannedPhase } from "../../registry/types.ts";
import type { ScriptedScenario } from "./scenarios.ts";

export type ScriptedBehaviour =
  | { kind: "artifact"; value: unknown }
  | { kind: "text"; text: string }
  | { kind: "hang" }
  | { kind: "exit"; exitCode: number; fatal: boolean; code: string; message: string };

const SPEC = {
  title: "Scripted specification",
  summary: "A deterministic specification produced by the scripted agent.",
  goals: ["Exercise the workflow end to end"],
  nonGoals: [],
  requirements: [{ id: "R1", text: "The change does what the issue asks." }],
  acceptanceCriteria: [{ id: "AC1", text: "The tests pass.", verification: "npm test" }],
  openQuestions: [],
  risks: [],
};

const IMPLEMENTATION = {
  summary: "Scripted implementation.",
  filesChanged: [{ path: "README.md", change: "modified" }],
  testsRun: [{ command: "npm test", result: "passed" }],
  followUps: [],
};

const REVIEW = { verdict: "approve", findings: [] };

function phase(key: string, role: string, artifactSchema: string | null): PlannedPhase {
  return { key, title: `Planned ${key}`, role, artifactSchema, instructions: `Do ${key}.` };
}

const PLANS: Partial<Record<ScriptedScenario, PlannedPhase[]>> = {
  ok: [],
  "skip-only": [phase("documentation-note", "implementer", null)],
  "unbound-role": [phase("ghost-work", "ghost_writer", "dev/implementation@1")],
  "mixed-unbound-role": [
    phase("backend", "implementer", "dev/implementation@1"),
    phase("frontend", "ghost_writer", "dev/implementation@1"),
  ],
  "colliding-spec": [phase("spec", "implementer", "dev/implementation@1")],
  "unknown-schema": [phase("final-report", "implementer", "common/final-report@1")],
  "unregistered-schema": [phase("research", "implementer", "dev/research@9")],
  "two-phases": [
    phase("backend", "implementer", "dev/implementation@1"),
    phase("review", "reviewer", "dev/review@1"),
  ],
};

const VALID: Record<string, unknown> = {
  "dev/spec@1": SPEC,
  "dev/implementation@1": IMPLEMENTATION,
  "dev/review@1": REVIEW,
};

/** What the scripted agent does for one execution: its artifact, or how it fails. */
export function scriptedBehaviour(schemaId: string, scenario: ScriptedScenario): ScriptedBehaviour {
  switch (scenario) {
    case "invalid":
      return { kind: "artifact", value: { title: 42, unexpected: true } };
    case "garbage":
      return { kind: "text", text: "I could not finish, sorry. {not json" };
    case "timeout":
      return { kind: "hang" };
    case "crash":
      return {
        kind: "exit",
        exitCode: 1,
        fatal: false,
        code: "agent_exit_nonzero",
        message: "scripted agent crashed",
      };
    default:
      break;
  }
  if (schemaId === "dev/phase-plan@1") {
    const phases = PLANS[scenario] ?? [];
    return { kind: "artifact", value: { summary: `Scripted plan (${scenario}).`, phases } };
  }
  const value = VALID[schemaId];
  if (value === undefined) {
    return {
      kind: "exit",
      exitCode: 3,
      fatal: true,
      code: "scripted_fixture_missing",
      message: `the scripted agent has no fixture for schema ${schemaId}`,
    };
  }
  return { kind: "artifact", value };
}
