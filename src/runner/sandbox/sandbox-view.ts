import { existsSync, lstatSync, readlinkSync, realpathSync, statSync } from "node:fs";
import { copyFile, mkdir, writeFile } from "node:fs/promises";
import { delimiter, dirname, isAbsolute, join, posix, sep } from "node:path";
import { fileURLToPath } from "node:url";
import type { EgressRule } from "../../security/egress-policy.ts";
import type { RunnerRequest } from "../runner.ts";

/** Where things are inside every sandbox, whichever the runner. */
export const SANDBOX = {
  workspace: "/workspace",
  io: "/devflow",
  home: "/devflow/home",
  /** devflow's egress proxy socket, in a directory mounted read-only. */
  netDir: "/run/devflow-net",
  proxyPort: 3128,
  init: "/devflow/sandbox/init.mjs",
  uid: 1000,
  gid: 1000,
} as const;

/** A path beside the workspace in the sandbox: `git/objects` is `/git/objects`. */
export function besideWorkspace(relativePath: string): string {
  return posix.join(posix.dirname(SANDBOX.workspace), relativePath);
}

/** The launcher every sandbox starts with (src/runner/sandbox/sandbox-init.mjs). */
export const SANDBOX_INIT_PATH = fileURLToPath(new URL("./sandbox-init.mjs", import.meta.url));

/** A port inside the sandbox tunnelled through the proxy to a destination an operator named. */
export interface SandboxForward {
  port: number;
  host: string;
  targetPort: number;
}

/**
 * Local model endpoints (an operator's `ANTHROPIC_BASE_URL=http://127.0.0.1:8080`)
 * would point at the sandbox's own loopback: each gets the same port inside,
 * tunnelled through the proxy to the host's.
 */
export function loopbackForwards(rules: EgressRule[]): SandboxForward[] {
  const forwards: SandboxForward[] = [];
  for (const rule of rules) {
    const loopback = rule.host === "localhost" || rule.host === "::1" || /^127\./.test(rule.host);
    if (rule.named && rule.port !== undefined && loopback && rule.port !== SANDBOX.proxyPort) {
      forwards.push({ port: rule.port, host: rule.host, targetPort: rule.port });
    }
  }
  return forwards;
}

/**
 * What the launcher inside a networked sandbox is told (its DEVFLOW_SANDBOX
 * variable): the proxy's socket and port, the loopback forwards, its deadline and
 * the agent's stdin, the same for every runner.
 */
export function launcherConfig(
  request: Pick<RunnerRequest, "egress" | "timeoutMs" | "command">,
): string {
  return JSON.stringify({
    env: proxyEnvironment(),
    proxySocket: `${SANDBOX.netDir}/proxy.sock`,
    proxyPort: SANDBOX.proxyPort,
    forwards: loopbackForwards(request.egress.rules),
    deadlineMs: request.timeoutMs + 5_000,
    ...(request.command.stdinFile === undefined ? {} : { stdin: request.command.stdinFile }),
  });
}

/** The environment that sends an agent's HTTP clients through the sandbox's proxy. */
export function proxyEnvironment(): Record<string, string> {
  const proxy = `http://127.0.0.1:${SANDBOX.proxyPort}`;
  return {
    HTTPS_PROXY: proxy,
    HTTP_PROXY: proxy,
    https_proxy: proxy,
    http_proxy: proxy,
    // Node's own fetch and http honour the variables above only when asked (Node >= 24).
    NODE_USE_ENV_PROXY: "1",
  };
}

/**
 * Writes what the sandbox mounts from the execution's directory: the launcher,
 * and /etc/passwd, /etc/group and /etc/hosts that know the agent's user (tools
 * such as git and ssh look themselves up) and nothing of the host's.
 */
export async function writeSandboxFiles(
  ioDir: string,
  user: { uid: number; gid: number; home: string } = {
    uid: SANDBOX.uid,
    gid: SANDBOX.gid,
    home: SANDBOX.home,
  },
): Promise<string> {
  const { uid, gid, home } = user;
  const dir = join(ioDir, "sandbox");
  await mkdir(join(dir, "etc"), { recursive: true });
  await mkdir(join(ioDir, "home"), { recursive: true });
  await copyFile(SANDBOX_INIT_PATH, join(dir, "init.mjs"));
  await writeFile(
    join(dir, "etc", "passwd"),
    `root:x:0:0:root:/root:/bin/sh\nagent:x:${uid}:${gid}:devflow agent:${home}:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n`,
  );
  await writeFile(join(dir, "etc", "group"), `root:x:0:\nagent:x:${gid}:\nnogroup:x:65534:\n`);
  await writeFile(join(dir, "etc", "hosts"), "127.0.0.1 localhost devflow-agent\n::1 localhost\n");
  return dir;
}

/**
 * The host directory to mount read-only so that `file` works inside the
 * sandbox: an npm package's whole `node_modules` (its dependencies and platform
 * binaries sit beside it), or the file's own directory.
 */
function installRoot(file: string): string {
  const parts = file.split(sep);
  const at = parts.indexOf("node_modules");
  if (at > 0) return parts.slice(0, at + 1).join(sep);
  const dir = dirname(file);
  // A Node install keeps node in <prefix>/bin and its libraries beside it.
  return dir.endsWith(`${sep}bin`) ? dirname(dir) : dir;
}

/** `name` on the host's PATH, as an absolute path (or undefined). */
export function which(name: string, path = process.env.PATH ?? ""): string | undefined {
  if (isAbsolute(name)) return existsSync(name) ? name : undefined;
  for (const dir of path.split(delimiter)) {
    if (dir === "") continue;
    const candidate = join(dir, name);
    try {
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // Not here.
    }
  }
  return undefined;
}

/** Directories the sandbox shows at their host path anyway (its own system view). */
const SYSTEM = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc"];

function covered(path: string): boolean {
  return SYSTEM.some((dir) => path === dir || path.startsWith(`${dir}/`));
}

/**
 * What the agent's command needs to be visible read-only at its host path: the
 * program (resolved on the host's PATH) and the Node devflow runs with, each with
 * its install directory, and the directory of each tool file the adapter named
 * (`node /opt/agents/my-agent.mjs`). Returns the command with its program made
 * absolute, the directories to mount and the PATH to use inside.
 */
export function toolMounts(
  argv: string[],
  tools: string[] = [],
): { argv: string[]; mounts: string[]; path: string } {
  const [program, ...args] = argv;
  const mounts = new Set<string>();
  const bins = new Set<string>();
  const add = (file: string) => {
    const real = realpathSync(file);
    for (const candidate of [real, file]) {
      if (!covered(candidate)) mounts.add(installRoot(candidate));
    }
  };
  add(process.execPath);
  bins.add(dirname(process.execPath));
  let resolved = program;
  if (program !== undefined) {
    const found = which(program);
    if (found !== undefined) {
      add(found);
      bins.add(dirname(found));
      resolved = found;
    }
  }
  for (const tool of tools) {
    if (isAbsolute(tool) && existsSync(tool)) mounts.add(dirname(realpathSync(tool)));
  }
  const path = [...bins, "/usr/local/bin", "/usr/bin", "/bin"].join(":");
  return { argv: resolved === undefined ? argv : [resolved, ...args], mounts: [...mounts], path };
}

/**
 * The host's /etc files an agent's tools need (certificates, the dynamic linker's
 * cache, time zones, name service and protocol tables); nothing else of /etc.
 */
const ETC = [
  "alternatives",
  "ca-certificates",
  "ca-certificates.conf",
  "debian_version",
  "gai.conf",
  "ld.so.cache",
  "ld.so.conf",
  "ld.so.conf.d",
  "localtime",
  "mime.types",
  "nsswitch.conf",
  "os-release",
  "pki",
  "protocols",
  "services",
  "ssl",
  "terminfo",
  "timezone",
];

/** bubblewrap arguments that show the host's system directories (or their merged-/usr links). */
export function systemMounts(): string[] {
  const args: string[] = [];
  for (const name of ETC) args.push("--ro-bind-try", `/etc/${name}`, `/etc/${name}`);
  for (const dir of SYSTEM.filter((dir) => dir !== "/etc")) {
    let stats: ReturnType<typeof lstatSync>;
    try {
      stats = lstatSync(dir);
    } catch {
      continue;
    }
    if (stats.isSymbolicLink()) args.push("--symlink", readlinkSync(dir), dir);
    else if (stats.isDirectory()) args.push("--ro-bind", dir, dir);
  }
  return args;
}
