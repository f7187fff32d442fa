import { appendFile, mkdir, writeFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { scriptedBehaviour } from "./fixtures.ts";
import {
  isScriptedScenario,
  SLOW_SCENARIO_MS,
  SLOW_STEP_MS,
  SPENDY_SCENARIO_MS,
  SPENDY_STEP_MS,
} from "./scenarios.ts";

export interface ScriptedArgs {
  promptFile: string;
  output: string;
  schemaId: string;
  scenario: string;
  cwd: string;
}

/** Parses the scripted agent's command line; throws with the usage on anything else. */
export function parseScriptedArgs(argv: string[], cwd: string): ScriptedArgs {
  const value = (flag: string) => {
    const index = argv.indexOf(flag);
    const found = index >= 0 ? argv[index + 1] : undefined;
    if (found === undefined) {
      throw new Error(
        `usage: scripted-agent --prompt-file FILE --output PATH --schema-id ID [--scenario NAME]; missing ${flag}`,
      );
    }
    return found;
  };
  const scenarioIndex = argv.indexOf("--scenario");
  return {
    promptFile: value("--prompt-file"),
    output: value("--output"),
    schemaId: value("--schema-id"),
    scenario: scenarioIndex >= 0 ? (argv[scenarioIndex + 1] ?? "ok") : "ok",
    cwd,
  };
}

/**
 * Plays one fixture as a coding agent would: reads nothing but its arguments,
 * writes the artifact to its output path (and a file of "code" for an
 * implementation), prints what it does, and exits with the fixture's status.
 * `signal` ends a hanging fixture, as a kill would end a process.
 */
export async function runScriptedAgent(
  args: ScriptedArgs,
  print: (line: string) => void,
  signal?: AbortSignal,
): Promise<number> {
  if (!isScriptedScenario(args.scenario)) {
    print(
      `devflow-error: ${JSON.stringify({ code: "scripted_unknown_scenario", fatal: true, message: `unknown scenario ${args.scenario}` })}`,
    );
    return 2;
  }
  print(`scripted agent: ${args.schemaId}, scenario ${args.scenario}, prompt ${args.promptFile}`);
  /** Waits `ms`; false when the agent was stopped meanwhile (and says so). */
  const wait = async (ms: number) => {
    const aborted = await sleep(ms, false, signal === undefined ? {} : { signal }).catch(
      () => true,
    );
    if (aborted) print("scripted agent: stopped");
    return !aborted;
  };
  if (args.scenario === "slow") {
    // It says what it is doing as it goes, as an agent's session does.
    for (let step = 1; step <= SLOW_SCENARIO_MS / SLOW_STEP_MS; step++) {
      print(`scripted agent: working, step ${step} of ${SLOW_SCENARIO_MS / SLOW_STEP_MS}`);
      if (!(await wait(SLOW_STEP_MS))) return 143;
    }
  }
  if (args.scenario === "spendy") {
    const work = resolve(args.cwd, "SPENDY_WORK.md");
    for (let step = 1; step <= SPENDY_SCENARIO_MS / SPENDY_STEP_MS; step++) {
      await appendFile(work, `step ${step}\n`);
      // What it does, now and then, as an agent's session says it.
      if (step % 10 === 1) print(`scripted agent: step ${step}: adding to SPENDY_WORK.md`);
      print(`devflow-usage: ${JSON.stringify({ costUsd: step / 100, inputTokens: step * 1000 })}`);
      if (!(await wait(SPENDY_STEP_MS))) return 143;
    }
  }
  const behaviour = scriptedBehaviour(args.schemaId, args.scenario);
  if (behaviour.kind === "hang") {
    await sleep(2 ** 31 - 1, undefined, signal === undefined ? {} : { signal }).catch(() => {});
    print("scripted agent: stopped");
    return 143;
  }
  if (behaviour.kind === "exit") {
    print(
      `devflow-error: ${JSON.stringify({ code: behaviour.code, fatal: behaviour.fatal, message: behaviour.message })}`,
    );
    return behaviour.exitCode;
  }
  const output = resolve(args.cwd, args.output);
  await mkdir(dirname(output), { recursive: true });
  const text =
    behaviour.kind === "text" ? behaviour.text : `${JSON.stringify(behaviour.value, null, 2)}\n`;
  await writeFile(output, text);
  if (args.schemaId === "dev/implementation@1") {
    // An implementation changes code too: this is the change the run branch gets.
    await writeFile(
      resolve(args.cwd, "SCRIPTED_CHANGE.md"),
      `Changed by the scripted agent for ${args.output}.\n`,
    );
  }
  print(`scripted agent: wrote ${text.length} bytes to ${args.output}`);
  print(
    `devflow-usage: ${JSON.stringify({
      costUsd: args.scenario === "spendy" ? SPENDY_SCENARIO_MS / SPENDY_STEP_MS / 100 : 0.01,
      inputTokens: 1000,
      outputTokens: 200,
    })}`,
  );
  return 0;
}
