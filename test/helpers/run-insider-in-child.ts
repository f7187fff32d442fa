// Runs the insider agent's `fds` probe through the process runner in this process,
// which its parent started with an extra descriptor open; prints the transcript.
import { createProcessRunner } from "../../src/runner/backends/process-runner.ts";
import { agentRequest, runAgentDirectly } from "./run-agent-directly.ts";

const [agent] = process.argv.slice(2) as [string];
const runner = createProcessRunner();
const { transcript } = await runAgentDirectly(
  runner,
  agentRequest({ argv: [process.execPath, agent, "fds"], env: {}, tools: [agent] }),
);
process.stdout.write(transcript);
