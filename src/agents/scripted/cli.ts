#!/usr/bin/env node
/**
 * The scripted agent as an executable, run by the process and docker runners
 * exactly as a real agent CLI would be:
 * `node cli.ts --prompt-file FILE --output PATH --schema-id ID [--scenario NAME]`.
 */
import { parseScriptedArgs, runScriptedAgent } from "./run-scripted-agent.ts";

const controller = new AbortController();
process.on("SIGTERM", () => controller.abort());
try {
  const args = parseScriptedArgs(process.argv.slice(2), process.cwd());
  process.exitCode = await runScriptedAgent(
    args,
    (line) => process.stdout.write(`${line}\n`),
    controller.signal,
  );
} catch (error) {
  process.stderr.write(`${(error as Error).message}\n`);
  process.exitCode = 2;
}
