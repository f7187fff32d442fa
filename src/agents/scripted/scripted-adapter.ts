import { type AgentAdapter, readDevflowLines } from "../agent-adapter.ts";

/** Deterministic fixtures played by `cli.ts`, for tests and for trying devflow without a model. */
export const scriptedAdapter: AgentAdapter = {
  name: "scripted",
  passEnv: [],
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
  }),
  interpret: ({ transcript }) => readDevflowLines(transcript),
};
