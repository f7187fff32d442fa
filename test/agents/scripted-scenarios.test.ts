import { describe, expect, it } from "vitest";
import { scriptedBehaviour } from "../../src/agents/scripted/fixtures.ts";
import {
  parseScriptedDirective,
  resolveScenario,
  SCRIPTED_SCENARIOS,
} from "../../src/agents/scripted/scenarios.ts";
import { loadRegistry } from "../../src/registry/load-registry.ts";

const registry = loadRegistry();

describe("the scripted agent", () => {
  it("picks a scenario per phase, per attempt, and for the repair", () => {
    const config = {
      spec: ["timeout", "ok"],
      phase_plan: { scenario: "invalid", repairScenario: "garbage" },
      implement: "crash",
    };
    expect(resolveScenario(config, "spec", 1, 1)).toBe("timeout");
    expect(resolveScenario(config, "spec", 2, 1)).toBe("ok");
    expect(resolveScenario(config, "spec", 5, 1)).toBe("ok");
    expect(resolveScenario(config, "phase_plan", 1, 1)).toBe("invalid");
    expect(resolveScenario(config, "phase_plan", 1, 2)).toBe("garbage");
    expect(resolveScenario(config, "implement", 1, 1)).toBe("crash");
    expect(resolveScenario(config, "implement", 1, 2)).toBe("ok");
    expect(resolveScenario(config, "elsewhere", 1, 1)).toBe("ok");
    expect(resolveScenario({ spec: "no-such-scenario" }, "spec", 1, 1)).toBe("ok");
    expect(resolveScenario(undefined, "spec", 1, 1)).toBe("ok");
  });

  it("produces a valid artifact for every schema it has a fixture for", () => {
    for (const schemaId of [
      "dev/spec@1",
      "dev/phase-plan@1",
      "dev/implementation@1",
      "dev/review@1",
    ]) {
      const behaviour = scriptedBehaviour(schemaId, "ok");
      expect(behaviour.kind).toBe("artifact");
      if (behaviour.kind === "artifact")
        expect(registry.validate(schemaId, behaviour.value)).toEqual({ ok: true });
    }
    for (const scenario of SCRIPTED_SCENARIOS.filter(
      (s) =>
        s.endsWith("role") ||
        s.includes("schema") ||
        s.includes("phase") ||
        s.includes("spec") ||
        s === "skip-only",
    )) {
      const behaviour = scriptedBehaviour("dev/phase-plan@1", scenario);
      if (behaviour.kind === "artifact")
        expect(registry.validate("dev/phase-plan@1", behaviour.value)).toEqual({ ok: true });
    }
    expect(scriptedBehaviour("common/final-report@1", "ok")).toMatchObject({
      kind: "exit",
      fatal: true,
      code: "scripted_fixture_missing",
    });
  });

  it("reads the directive from an issue body, and ignores one that is malformed", () => {
    expect(
      parseScriptedDirective('Please fix.\n<!-- devflow-scripted: {"spec":"invalid"} -->\n'),
    ).toEqual({ spec: "invalid" });
    expect(parseScriptedDirective("<!-- devflow-scripted: {not json} -->")).toBeNull();
    expect(parseScriptedDirective("<!-- devflow-scripted: [1,2] -->")).toBeNull();
    expect(parseScriptedDirective("no directive here")).toBeNull();
  });
});
