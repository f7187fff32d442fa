import type { ApprovalAction } from "../db/schema/index.ts";

/**
 * Gates the engine raises itself when it cannot go on without a person, and what
 * a person may do at each. An action not listed is an `approval_conflict`.
 */
export const HUMAN_GATES = {
  /** The artifact was still invalid after the repair attempt: only rejecting ends it. */
  artifact_invalid_after_repair: ["reject"],
  /** Every allowed attempt failed: run the phase again, or give up. */
  attempts_exhausted: ["request_changes", "reject"],
  /** The run spent its budget: grant one more (approve), or give up. */
  budget_exhausted: ["approve", "reject"],
} as const satisfies Record<string, readonly ApprovalAction[]>;

export type HumanGateKey = keyof typeof HUMAN_GATES;

export function humanGateAllows(gateKey: string, action: ApprovalAction): boolean {
  const allowed = (HUMAN_GATES as Record<string, readonly ApprovalAction[]>)[gateKey];
  return allowed?.includes(action) ?? false;
}
