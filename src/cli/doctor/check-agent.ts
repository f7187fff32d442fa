import { constants } from "node:fs";
import { access } from "node:fs/promises";
import { delimiter, join } from "node:path";
import { AGENT_ADAPTERS } from "../../agents/agent-adapters.ts";
import type { Settings } from "../../settings.ts";
import type { Check } from "./check.ts";
import { checkAgentInImage } from "./check-agent-in-image.ts";

/** The default agent: one devflow knows, its program where the runner will look, and its key. */
export async function checkAgent(settings: Settings, env: NodeJS.ProcessEnv): Promise<Check[]> {
  const names = [...AGENT_ADAPTERS.keys()].join(", ");
  if (settings.agent === undefined) {
    return [
      {
        name: "agent",
        status: "warn",
        detail: "DEVFLOW_AGENT is not set: a run waits at its first phase and says so on the issue",
        fix: `set DEVFLOW_AGENT to one of ${names} (or name an agent in a repository's .github/devflow.yml)`,
      },
    ];
  }
  const adapter = AGENT_ADAPTERS.get(settings.agent);
  if (adapter === undefined) {
    return [
      {
        name: "agent",
        status: "fail",
        detail: `DEVFLOW_AGENT=${settings.agent} is not an agent devflow knows`,
        fix: `set DEVFLOW_AGENT to one of ${names}`,
      },
    ];
  }
  const checks: Check[] = [];
  const executable =
    adapter.name === "command" ? settings.agentCommand?.trim().split(/\s+/)[0] : adapter.executable;
  if (adapter.name === "command" && executable === undefined) {
    checks.push({
      name: "agent CLI",
      status: "fail",
      detail: "the command agent has no DEVFLOW_AGENT_COMMAND",
      fix: "set DEVFLOW_AGENT_COMMAND, e.g. 'my-agent --prompt {prompt} --out {output}'",
    });
  } else if (executable === undefined) {
    checks.push({ name: "agent CLI", status: "ok", detail: `${adapter.name}: built into devflow` });
  } else if (settings.runner === "docker") {
    checks.push(await checkAgentInImage(settings, executable));
  } else {
    const found = await onPath(executable, env.PATH ?? "");
    checks.push(
      found === undefined
        ? {
            name: "agent CLI",
            status: "fail",
            detail: `${executable} is not on PATH`,
            fix: `install ${adapter.name} on every worker host (README.md, Runners and agents), or use DEVFLOW_RUNNER=docker with the runner image`,
          }
        : { name: "agent CLI", status: "ok", detail: found },
    );
  }
  const keys = adapter.keyEnv ?? [];
  if (keys.length > 0) {
    const set = keys.filter((name) => (env[name] ?? "") !== "");
    checks.push(
      set.length === 0
        ? {
            name: "agent key",
            status: "fail",
            detail: `none of ${keys.join(", ")} is set`,
            fix: `set ${keys[0]} to the key ${adapter.name} uses (only the variables the adapter names reach the agent)`,
          }
        : { name: "agent key", status: "ok", detail: `${set.join(", ")} set` },
    );
  }
  return checks;
}

async function onPath(executable: string, path: string): Promise<string | undefined> {
  const candidates = executable.includes("/")
    ? [executable]
    : path
        .split(delimiter)
        .filter(Boolean)
        .map((dir) => join(dir, executable));
  for (const candidate of candidates) {
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {}
  }
  return undefined;
}
