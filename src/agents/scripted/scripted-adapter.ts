import { fileURLToPath } from "node:url";
import { type AgentAdapter, devflowLinesMeter, readDevflowLines } from "../agent-adapter.ts";

/** The scripted agent's executable on this host (runners that use host paths run it from here). */
export const SCRIPTED_AGENT_PATH = fileURLToPath(new URL("./cli.ts", import.meta.url));

/** Deterministic fixtures played by `cli.ts`, for tests and for trying devflow without a model. */
export const scriptedAdapter: AgentAdapter = {
  name: "scripted",
  passEnv: [],
  egress: () => [],
  command: ({ view, promptFile, outputPath, schemaId, scenario }) => ({
    argv: [
      view.node,
      view.scriptedAgent,
      "--prompt-file",
      promptFile,
      "--output",
      outputPath,
      "--schema-id",
      schemaId,
      "--scenario",
      scenario ?? "ok",
    ],
    env: {},
    tools: [SCRIPTED_AGENT_PATH],
  }),
  interpret: ({ transcript }) => readDevflowLines(transcript),
  meter: devflowLinesMeter,
};
