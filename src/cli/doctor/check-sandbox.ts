import { AGENT_ADAPTERS } from "../../agents/agent-adapters.ts";
import { probeBubblewrap } from "../../runner/sandbox/probe-bubblewrap.ts";
import type { Settings } from "../../settings.ts";
import type { Check } from "./check.ts";

/** How agents are contained here: the process runner's sandbox, or the containers' settings. */
export function checkSandbox(settings: Settings, env: NodeJS.ProcessEnv): Check {
  const name = "sandbox";
  if (settings.runner === "in-process") {
    return {
      name,
      status: "ok",
      detail: "not used: the in-process runner runs only the scripted agent",
    };
  }
  if (settings.workerConcurrency === 0) {
    return {
      name,
      status: "ok",
      detail: "not needed: DEVFLOW_WORKER_CONCURRENCY=0 runs no agents here",
    };
  }
  if (settings.runner === "docker") {
    return settings.docker.network === "none"
      ? {
          name,
          status: "ok",
          detail: `containers: non-root, read-only root, no capabilities, ${egressSummary(settings, env)} (through devflow's egress proxy)`,
        }
      : {
          name,
          status: "warn",
          detail: `containers get the Docker network "${settings.docker.network}": agents can reach hosts around the egress allowlist (cloud metadata included)`,
          fix: "unset DEVFLOW_DOCKER_NETWORK (none): agents then reach only what the egress proxy allows; widen it with DEVFLOW_EGRESS_ALLOW",
        };
  }
  if (settings.sandbox === "none") {
    return {
      name,
      status: "warn",
      detail:
        "DISABLED by DEVFLOW_INSECURE_NO_SANDBOX: agents run as plain processes and can read devflow's private key, .env, database and other runs",
      fix: "unset DEVFLOW_INSECURE_NO_SANDBOX and install bubblewrap, or use DEVFLOW_RUNNER=docker",
    };
  }
  const probe = probeBubblewrap();
  return probe.ok
    ? {
        name,
        status: "ok",
        detail: `${probe.version}: own user, pid, network, ipc and uts namespaces, uid 1000 inside, ${egressSummary(settings, env)}`,
      }
    : {
        name,
        status: "fail",
        detail: `agents cannot be sandboxed on this host, so devflow will not run them: ${probe.problem}`,
        fix: probe.fix,
      };
}

/** Where agents may connect: their model API and the operator's list. */
function egressSummary(settings: Settings, env: NodeJS.ProcessEnv): string {
  const adapter = settings.agent === undefined ? undefined : AGENT_ADAPTERS.get(settings.agent);
  const rules = [...(adapter?.egress(env) ?? []), ...settings.egressAllow];
  const names = rules.map(
    (rule) => `${rule.host}${rule.port === undefined ? "" : `:${rule.port}`}`,
  );
  return names.length === 0 ? "no network" : `network only to ${names.join(", ")}`;
}
