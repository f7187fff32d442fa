import { HUMAN_GATES } from "./human-gates.ts";
import type { TemplateDefinition } from "./types.ts";

export interface CheckTemplateReferencesOptions {
  definition: TemplateDefinition;
  /** Whether a persona `name@version` exists for this template. */
  hasPersona: (id: string) => boolean;
  schemas: ReadonlyMap<string, unknown>;
  /** The agents a role may name; any name when absent. */
  agents?: ReadonlySet<string>;
}

/**
 * What a valid template must also get right: every role's persona exists (and
 * agent, when agents are given), phase keys are unique, every phase's role is
 * bound and its artifact schema known, a plan-expanding phase produces a plan,
 * and no gate takes the name of one the engine raises itself (it would be
 * decided by that gate's rules). Returns the problems as `<json pointer>: <message>`; none when it is right.
 */
export function checkTemplateReferences({
  definition,
  hasPersona,
  schemas,
  agents,
}: CheckTemplateReferencesOptions): string[] {
  const errors: string[] = [];
  for (const [role, binding] of Object.entries(definition.roles)) {
    if (!hasPersona(binding.persona))
      errors.push(`/roles/${role}/persona: unknown persona ${binding.persona}`);
    if (agents !== undefined && binding.agent !== undefined && !agents.has(binding.agent))
      errors.push(
        `/roles/${role}/agent: unknown agent ${binding.agent} (one of ${[...agents].join(", ")})`,
      );
  }
  const keys = new Set<string>();
  definition.phases.forEach((phase, index) => {
    if (keys.has(phase.key)) errors.push(`/phases/${index}/key: duplicate ${phase.key}`);
    keys.add(phase.key);
    if (phase.gate !== undefined && Object.hasOwn(HUMAN_GATES, phase.gate))
      errors.push(`/phases/${index}/gate: ${phase.gate} is a gate devflow raises itself`);
    if (definition.roles[phase.role] === undefined)
      errors.push(`/phases/${index}/role: role ${phase.role} is not bound in /roles`);
    if (!schemas.has(phase.artifact))
      errors.push(`/phases/${index}/artifact: unknown schema ${phase.artifact}`);
    else if (phase.expandsPlan === true && phase.artifact !== "dev/phase-plan@1")
      errors.push(
        `/phases/${index}/artifact: a phase that expands a plan produces dev/phase-plan@1`,
      );
  });
  return errors;
}
