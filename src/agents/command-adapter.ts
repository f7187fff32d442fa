import { existsSync } from "node:fs";
import { isAbsolute } from "node:path";
import { DevflowError } from "../errors.ts";
import { type AgentAdapter, devflowLinesMeter, readDevflowLines } from "./agent-adapter.ts";

/**
 * Any CLI: `DEVFLOW_AGENT_COMMAND` is its command line, split on spaces (no
 * shell), with `{prompt}`, `{output}` and `{schema}` replaced by the prompt file,
 * the artifact's path in the workspace and the schema file. It may report usage
 * and a named error with `devflow-usage:` / `devflow-error:` lines.
 */
export const commandAdapter: AgentAdapter = {
  name: "command",
  passEnv: [],
  egress: () => [],
  command: ({ promptFile, outputPath, schemaFile, options }) => {
    const line = options.command?.trim();
    if (line === undefined || line === "") {
      throw new DevflowError(
        "the command agent needs DEVFLOW_AGENT_COMMAND, e.g. 'my-agent --prompt {prompt} --out {output}'",
        {
          class: "fatal",
          code: "agent_not_configured",
          category: "agent_error",
        },
      );
    }
    const parts = line.split(/\s+/);
    const argv = parts.map((part) =>
      part
        .replaceAll("{prompt}", promptFile)
        .replaceAll("{output}", outputPath)
        .replaceAll("{schema}", schemaFile),
    );
    // The operator's own absolute paths (a script the program runs) must be visible to it.
    const tools = parts.slice(1).filter((part) => isAbsolute(part) && existsSync(part));
    return { argv, env: {}, tools, passEnv: options.commandEnv ?? [] };
  },
  interpret: ({ exitCode, transcript }) => {
    const outcome = readDevflowLines(transcript);
    if (outcome.error === undefined && exitCode !== 0) {
      outcome.error = {
        code: "agent_exit_nonzero",
        fatal: false,
        message: `the agent command exited with code ${exitCode}`,
      };
    }
    return outcome;
  },
  meter: devflowLinesMeter,
};
