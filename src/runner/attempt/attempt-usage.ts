import type { AgentOutcome } from "../../agents/agent-adapter.ts";

/**
 * Cost and tokens of an attempt's executions, each recorded only when the tool
 * reported it (codex reports tokens and no cost). A negative or non-finite
 * number an agent printed is not a cost: it is ignored.
 */
export function createAttemptUsage() {
  let costUsd = 0;
  let costReported = false;
  const tokens = { input: 0, output: 0 };
  let tokensReported = false;
  const counts = (value: number | undefined): value is number =>
    value !== undefined && Number.isFinite(value) && value >= 0;
  return {
    add(outcome: AgentOutcome): void {
      if (counts(outcome.costUsd)) {
        costUsd += outcome.costUsd;
        costReported = true;
      }
      if (outcome.tokens !== undefined) {
        if (counts(outcome.tokens.input)) tokens.input += outcome.tokens.input;
        if (counts(outcome.tokens.output)) tokens.output += outcome.tokens.output;
        tokensReported = true;
      }
    },
    /** The fields of a phase result that carry usage. */
    fields(): { costUsd?: number; tokens?: { input: number; output: number } } {
      return {
        ...(costReported ? { costUsd } : {}),
        ...(tokensReported ? { tokens: { ...tokens } } : {}),
      };
    },
  };
}
