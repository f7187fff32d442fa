import { join } from "node:path";
import type { ReadOnlyMount } from "../runner.ts";
import { SANDBOX, systemMounts, toolMounts } from "./sandbox-view.ts";

export interface BubblewrapOptions {
  /** Host paths: the agent's work tree, its execution directory, the proxy socket's directory. */
  workspace: string;
  ioDir: string;
  netDir: string;
  /** What is shown read-only (devflow's object store, operator extras at their own path). */
  readOnly: ReadOnlyMount[];
  /** The agent's command line, as the adapter built it. */
  command: string[];
  /** Host files the command needs (their directories are mounted read-only). */
  tools: string[];
  /** Start the agent under the launcher (sandbox-init.mjs), which bridges the egress proxy. */
  launcher: boolean;
  features: BubblewrapFeatures;
  /**
   * The path bubblewrap binds a host path from: the path itself, or where the
   * launcher staged it (devflow as root; src/runner/sandbox/sandbox-launch.ts).
   */
  source?: (hostPath: string) => string;
  /** The size of each of the sandbox's /tmp and /var/tmp, in bytes (bubblewrap 0.8 and later). */
  tmpBytes?: number;
}

/** /run holds only the proxy's socket directory and what a tool puts there. */
const RUN_BYTES = 16 * 1024 * 1024;

/** What this host's bubblewrap can do (probed once by `probeBubblewrap`). */
export interface BubblewrapFeatures {
  /** `--disable-userns` (bubblewrap 0.8.0 and later): no nested user namespaces. */
  disableUserns: boolean;
  /** `--size` for a tmpfs (bubblewrap 0.8.0 and later). */
  tmpfsSize?: boolean;
}

/** The namespaces, identity and process rules every devflow sandbox has (also what doctor tries). */
export function isolationArgs(features: BubblewrapFeatures): string[] {
  return [
    // --unshare-all only tries the user namespace; devflow insists on it.
    "--unshare-all",
    "--unshare-user",
    ...(features.disableUserns ? ["--disable-userns"] : []),
    "--die-with-parent",
    "--new-session",
    "--cap-drop",
    "ALL",
    "--uid",
    String(SANDBOX.uid),
    "--gid",
    String(SANDBOX.gid),
    "--hostname",
    "devflow-agent",
  ];
}

/**
 * The `bwrap` command line for one agent execution. The sandbox sees: the host's
 * system directories (/usr and its links) and a few /etc files, read-only; its
 * own /proc (its own processes only), /dev, and empty /tmp, /var/tmp and /run;
 * the work tree at /workspace and the execution directory at /devflow, writable;
 * the agent's program, Node and devflow's object store read-only at their host
 * paths; and the egress proxy's socket. It has its own user (an unprivileged
 * uid), pid, network (loopback only), ipc and uts namespaces, no capabilities,
 * no nested user namespaces, a new session (no terminal injection), and dies
 * with its parent. An agent with somewhere to connect starts under the launcher
 * (sandbox-init.mjs), which bridges the proxy; one with nowhere has no network at all.
 */
export function bubblewrapArgs(options: BubblewrapOptions): {
  argv: string[];
  path: string;
  /** Every host path the sandbox binds (besides the system directories), in order. */
  hostPaths: string[];
} {
  const tools = toolMounts(options.command, options.tools);
  const source = options.source ?? ((path: string) => path);
  const sandboxFiles = join(source(options.ioDir), "sandbox");
  const sized = (target: string, bytes: number | undefined) => [
    ...(bytes === undefined || options.features.tmpfsSize !== true
      ? []
      : ["--size", String(bytes)]),
    "--tmpfs",
    target,
  ];
  const args = [
    "bwrap",
    ...isolationArgs(options.features),
    ...systemMounts(),
    "--ro-bind",
    join(sandboxFiles, "etc", "passwd"),
    "/etc/passwd",
    "--ro-bind",
    join(sandboxFiles, "etc", "group"),
    "/etc/group",
    "--ro-bind",
    join(sandboxFiles, "etc", "hosts"),
    "/etc/hosts",
    "--proc",
    "/proc",
    "--dev",
    "/dev",
    ...sized("/tmp", options.tmpBytes),
    ...sized("/var/tmp", options.tmpBytes),
    ...sized("/run", RUN_BYTES),
    // bubblewrap's /dev keeps a /dev/shm directory on its own unsized tmpfs.
    ...sized("/dev/shm", options.tmpBytes),
    "--bind",
    source(options.workspace),
    SANDBOX.workspace,
    "--bind",
    source(options.ioDir),
    SANDBOX.io,
    "--ro-bind",
    source(options.netDir),
    SANDBOX.netDir,
  ];
  for (const path of tools.mounts) args.push("--ro-bind", source(path), path);
  for (const mount of options.readOnly) args.push("--ro-bind", source(mount.source), mount.target);
  // The launcher lives in the writable execution directory: mounted read-only over
  // itself, the agent cannot swap it.
  if (options.launcher) args.push("--ro-bind", join(sandboxFiles, "init.mjs"), SANDBOX.init);
  // The sandbox's root and /dev are tmpfs of bubblewrap's, unsized and the agent's
  // to fill: read-only once every mount is in place.
  args.push("--remount-ro", "/dev", "--remount-ro", "/");
  args.push("--chdir", SANDBOX.workspace, "--");
  if (options.launcher) args.push(process.execPath, SANDBOX.init);
  args.push(...tools.argv);
  return {
    argv: args,
    path: tools.path,
    hostPaths: [
      options.workspace,
      options.ioDir,
      options.netDir,
      ...tools.mounts,
      ...options.readOnly.map((mount) => mount.source),
    ],
  };
}
