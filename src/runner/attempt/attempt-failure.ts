import type { AgentOutcome } from "../../agents/agent-adapter.ts";
import type { PhaseResultInput } from "../../engine/record-phase-result.ts";
import { isDevflowError } from "../../errors.ts";
import type { Secrets } from "../../security/secrets.ts";
import type { RunnerExit } from "../runner.ts";
import type { EgressDenial } from "../sandbox/egress-proxy.ts";

export type Failure = Extract<PhaseResultInput["outcome"], { kind: "failed" }>;

export function failed(
  errorClass: Failure["errorClass"],
  category: string,
  code: string,
  message: string,
): Failure {
  return { kind: "failed", errorClass, failure: { category, code, message } };
}

export function fromError(error: unknown, category: string, code: string, what: string): Failure {
  if (isDevflowError(error)) {
    const hint = error.recoveryHint === undefined ? "" : ` (fix: ${error.recoveryHint})`;
    return failed(
      error.class === "fatal" ? "fatal" : "recoverable",
      error.category,
      error.code,
      `${error.message}${hint}`,
    );
  }
  return failed("recoverable", category, code, `${what}: ${(error as Error).message}`);
}

/** How many of an agent's last printed lines a failure quotes. */
const TAIL_LINES = 12;
const TAIL_CHARS = 1500;

/** The last lines an agent printed, fenced for Markdown (the fence cannot be closed from inside). */
export function transcriptTail(transcript: string): string {
  const lines = transcript
    .replace(/\r/g, "")
    .split("\n")
    .filter((line) => line.trim() !== "");
  let tail = lines.slice(-TAIL_LINES).join("\n");
  if (tail.length > TAIL_CHARS) tail = `…${tail.slice(tail.length - TAIL_CHARS)}`;
  return tail.replaceAll("~~~", "~ ~ ~");
}

/** "blocked: pypi.org:443 — …", one per refused destination, for a failure or a phase's notes. */
export function describeDenials(denials: EgressDenial[]): string {
  return denials
    .slice(0, 10)
    .map((denial) => `blocked: ${denial.host}:${denial.port} (${denial.reason})`)
    .join("; ");
}

/**
 * The failure of an agent that exited badly: the adapter's own words when it
 * named the error, and the last lines the agent printed when it did not say why
 * (a crash, a refusal to start) — redacted, since they are published. Refused
 * connections are named too: they are often why.
 */
export function agentFailure(options: {
  adapterName: string;
  outcome: AgentOutcome;
  exit: RunnerExit;
  transcript: string;
  secrets: Secrets;
}): Failure {
  const { outcome, exit, transcript, secrets } = options;
  const named = outcome.error;
  let message =
    named?.message ?? `the ${options.adapterName} agent exited with code ${exit.exitCode}`;
  const unexplained =
    named === undefined || /exited with code|without a result/.test(named.message);
  const tail = transcriptTail(transcript);
  if (unexplained && tail !== "") message += `. It printed last:\n~~~\n${tail}\n~~~`;
  const denials = exit.egressDenied ?? [];
  if (denials.length > 0) {
    message += `\nThe sandbox refused: ${describeDenials(denials)}. An operator can allow a destination with DEVFLOW_EGRESS_ALLOW.`;
  }
  return failed(
    named?.fatal === true ? "fatal" : "recoverable",
    "agent_error",
    named?.code ?? "agent_exit_nonzero",
    secrets.redact(message),
  );
}
