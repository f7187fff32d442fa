import type { Check } from "./check.ts";
import { checkAgent } from "./check-agent.ts";
import { checkConfiguration } from "./check-configuration.ts";
import { checkDatabase } from "./check-database.ts";
import { checkGitHubApp } from "./check-github-app.ts";
import { checkRunner } from "./check-runner.ts";
import { checkSandbox } from "./check-sandbox.ts";
import { checkSandboxLimits } from "./check-sandbox-limits.ts";

/** The checks `devflow doctor` prints, in order. */
export async function doctorChecks(
  env: NodeJS.ProcessEnv,
  { offline }: { offline: boolean },
): Promise<Check[]> {
  const { check, settings } = checkConfiguration(env);
  if (settings === undefined) return [check];
  const checks: Check[] = [check];
  checks.push(...(await checkGitHubApp(settings, { offline })));
  checks.push(...(await checkDatabase(settings)));
  checks.push(...(await checkRunner(settings)));
  checks.push(checkSandbox(settings, env));
  if (
    settings.runner === "process" &&
    settings.sandbox === "bubblewrap" &&
    settings.workerConcurrency > 0
  )
    checks.push(...checkSandboxLimits(settings));
  checks.push(...(await checkAgent(settings, env)));
  return checks;
}
