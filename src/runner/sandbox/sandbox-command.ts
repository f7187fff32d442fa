import { mkdirSync, openSync, statSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import type { SandboxLimits } from "../../security/execution-limits.ts";
import { agentEnvironment } from "../agent-environment.ts";
import type { RunnerRequest } from "../runner.ts";
import { type BubblewrapFeatures, bubblewrapArgs } from "./bubblewrap.ts";
import { type EgressProxy, startEgressProxy } from "./egress-proxy.ts";
import { handOver } from "./hand-over.ts";
import { STAGE_POINT, sandboxLaunch, stagedPath } from "./sandbox-launch.ts";
import {
  type CgroupSupport,
  createExecutionCgroup,
  type ExecutionCgroup,
} from "./sandbox-limits.ts";
import type { SandboxUser } from "./sandbox-user.ts";
import { launcherConfig, SANDBOX, writeSandboxFiles } from "./sandbox-view.ts";

/** The paths of one execution's files: the agent's directory and devflow's own beside it. */
export function executionFiles(ioDir: string) {
  return {
    ioDir,
    /** The egress proxy's socket, mounted read-only. */
    netDir: `${ioDir}.net`,
    /** The launcher's staging directory: an entry per staged path (root only). */
    stageDir: `${ioDir}.stage`,
    /** The output, as devflow received it through its pipes: no sandbox sees this file. */
    log: `${ioDir}.transcript.log`,
  };
}

/** The host directories the launcher stages, and where bubblewrap finds a host path then. */
interface Staging {
  roots: string[];
  source: (hostPath: string) => string;
}

const NO_STAGING: Staging = { roots: [], source: (path) => path };

/** Whether anyone may pass through `dir` (its execute bit for others). */
function enterable(dir: string, cache: Map<string, boolean>): boolean {
  let known = cache.get(dir);
  if (known === undefined) {
    try {
      known = (statSync(dir).mode & 0o001) !== 0;
    } catch {
      known = false;
    }
    cache.set(dir, known);
  }
  return known;
}

/**
 * What to stage so that every one of `hostPaths` is reachable by a uid that owns
 * none of its directories: for a path under a directory others may not enter
 * (a data directory under /root, a temporary directory), the part past the last
 * such directory; nothing for a path every directory above lets anyone through.
 */
function stagingFor(hostPaths: string[]): Staging {
  const cache = new Map<string, boolean>();
  const rootOf = new Map<string, string>();
  for (const path of hostPaths) {
    const parts = path.split("/");
    let root: string | undefined;
    for (let depth = 1; depth < parts.length; depth += 1) {
      const ancestor = parts.slice(0, depth).join("/") || "/";
      if (!enterable(ancestor, cache)) root = parts.slice(0, depth + 1).join("/");
    }
    if (root !== undefined) rootOf.set(path, root);
  }
  // The staging directory is shown at STAGE_POINT, over what the host has there: once
  // anything is staged, what else is bound from under it is staged too.
  if (rootOf.size > 0) {
    for (const path of hostPaths) {
      if (!rootOf.has(path) && (path === STAGE_POINT || path.startsWith(`${STAGE_POINT}/`)))
        rootOf.set(path, path);
    }
  }
  const roots = [...new Set(rootOf.values())];
  return {
    roots,
    source: (path) => {
      const root = rootOf.get(path);
      return root === undefined
        ? path
        : `${stagedPath(roots.indexOf(root))}${path.slice(root.length)}`;
    },
  };
}

/** What one sandboxed execution needs besides its command line. */
export interface SandboxSetup {
  user: SandboxUser;
  cgroups: CgroupSupport;
  limits: SandboxLimits;
  features: BubblewrapFeatures;
}

/** The command line, environment and stdin of one sandboxed execution, its proxy and cgroup. */
export async function sandboxCommand(
  request: RunnerRequest,
  options: { readOnly?: string[] },
  setup: SandboxSetup,
): Promise<{
  argv: string[];
  env: Record<string, string>;
  proxy: EgressProxy | undefined;
  stdin: number | "ignore";
  cgroup: ExecutionCgroup | undefined;
}> {
  const files = executionFiles(request.ioDir);
  await writeSandboxFiles(request.ioDir);
  mkdirSync(files.netDir, { recursive: true, mode: 0o755 });
  const env: Record<string, string> = agentEnvironment(request, { home: SANDBOX.home });
  // An agent with nowhere to connect gets no proxy and no launcher: its sandbox has no
  // network at all, bubblewrap feeds its stdin, and it dies with devflow.
  const networked = request.egress.rules.length > 0;
  let proxy: EgressProxy | undefined;
  let stdin: number | "ignore" = "ignore";
  if (networked) {
    proxy = await startEgressProxy({
      socketPath: join(files.netDir, "proxy.sock"),
      policy: request.egress,
      ...(request.onEgressDenied === undefined ? {} : { onDenied: request.onEgressDenied }),
    });
    Object.assign(env, {
      DEVFLOW_SANDBOX: launcherConfig(request),
    });
  } else if (request.command.stdinFile !== undefined) {
    stdin = openSync(join(request.ioDir, relative(SANDBOX.io, request.command.stdinFile)), "r");
  }
  const { user } = setup;
  // The agent's own uid owns what it must write; devflow takes it back when it ends.
  if (user.dedicated) await handOver([request.workspace, request.ioDir], user);
  const cgroup = await createExecutionCgroup(setup.cgroups, request.executionId, setup.limits);
  const bwrapOptions = {
    workspace: request.workspace,
    ioDir: request.ioDir,
    netDir: files.netDir,
    launcher: networked,
    readOnly: [
      ...(options.readOnly ?? []).map((path) => ({ source: path, target: path })),
      ...request.readOnly,
    ],
    command: request.command.argv,
    tools: request.command.tools ?? [],
    features: setup.features,
    tmpBytes: setup.limits.tmpMb * 1024 * 1024,
  };
  // As root, bubblewrap runs as the agent's uid, which may not reach devflow's
  // directories by their paths: the launcher stages what lies past a directory
  // others may not enter, and bubblewrap binds those.
  const stage = user.dedicated ? stagingFor(bubblewrapArgs(bwrapOptions).hostPaths) : NO_STAGING;
  if (stage.roots.length > 0) {
    // An entry per staged path to mount it on, made by devflow; shown at STAGE_POINT,
    // the directory must let the agent's uid through.
    mkdirSync(files.stageDir, { recursive: true, mode: 0o755 });
    for (const [index, root] of stage.roots.entries()) {
      const entry = join(files.stageDir, String(index));
      if (statSync(root).isDirectory()) mkdirSync(entry, { mode: 0o755 });
      else writeFileSync(entry, "", { mode: 0o644 });
    }
  }
  const bwrap = bubblewrapArgs({ ...bwrapOptions, source: stage.source });
  env.PATH = bwrap.path;
  const argv = sandboxLaunch({
    user,
    cgroupProcs: cgroup?.procs ?? [],
    stageDir: files.stageDir,
    staged: stage.roots,
    // The uid is this execution's alone, so its process count is the execution's.
    ...(user.dedicated ? { nproc: setup.limits.pids } : {}),
    bwrap: bwrap.argv,
  });
  return { argv, env, proxy, stdin, cgroup };
}
