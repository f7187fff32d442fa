import { spawn } from "node:child_process";
import { DevflowError } from "../../errors.ts";

/** How long one git command devflow runs may take before it is killed (clone and push included). */
export const GIT_TIMEOUT_MS = 300_000;

/** The most output devflow reads from one git command. */
const MAX_OUTPUT = 64 * 1024 * 1024;

/**
 * Configuration every devflow git command runs with, given on the command's own
 * scope (environment), which wins over any repository config: no hooks, no
 * fsmonitor, no credential helper, and only the transports devflow uses.
 */
const HARDENED_CONFIG: readonly [string, string][] = [
  ["core.hooksPath", "/dev/null"],
  ["core.fsmonitor", "false"],
  ["core.untrackedCache", "false"],
  ["credential.helper", ""],
  ["core.askPass", ""],
  ["protocol.allow", "never"],
  ["protocol.https.allow", "always"],
  ["protocol.http.allow", "always"],
  ["protocol.file.allow", "always"],
  ["gc.auto", "0"],
  ["maintenance.auto", "false"],
  ["commit.gpgSign", "false"],
  ["tag.gpgSign", "false"],
  ["push.gpgSign", "false"],
  ["submodule.recurse", "false"],
  ["push.recurseSubmodules", "no"],
  ["fetch.recurseSubmodules", "false"],
];

/** An installation token for one remote URL: sent as an HTTP header to that URL only. */
export interface GitAuth {
  url: string;
  token: string;
}

/**
 * The whole environment of a devflow git command: nothing inherited but `PATH`,
 * no system or global config, no prompts, and the hardened configuration. The
 * token, when given, goes in as `http.<url>.extraHeader` for the one remote URL —
 * in the environment of that command only (never argv, never a file).
 */
export function gitEnvironment(
  options: { auth?: GitAuth | undefined; extra?: Record<string, string> } = {},
): Record<string, string> {
  const config: [string, string][] = [...HARDENED_CONFIG];
  if (options.auth !== undefined) {
    const basic = Buffer.from(`x-access-token:${options.auth.token}`).toString("base64");
    config.push([`http.${options.auth.url}.extraHeader`, `Authorization: Basic ${basic}`]);
  }
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin",
    HOME: "/nonexistent",
    LANG: "C",
    LC_ALL: "C",
    GIT_CONFIG_NOSYSTEM: "1",
    GIT_CONFIG_GLOBAL: "/dev/null",
    GIT_TERMINAL_PROMPT: "0",
    GIT_NO_REPLACE_OBJECTS: "1",
    GIT_PROTOCOL_FROM_USER: "0",
    GIT_CONFIG_COUNT: String(config.length),
    ...options.extra,
  };
  for (const [index, [key, value]] of config.entries()) {
    env[`GIT_CONFIG_KEY_${index}`] = key;
    env[`GIT_CONFIG_VALUE_${index}`] = value;
  }
  return env;
}

export interface RunGitOptions {
  /** devflow's own git directory (never one an agent could write). */
  gitDir?: string;
  /** The work tree, when the command needs one. */
  workTree?: string;
  args: string[];
  auth?: GitAuth | undefined;
  /** More environment (the author's name and email). */
  env?: Record<string, string>;
  /** Where the command runs; the git directory's parent by default. */
  cwd?: string;
  timeoutMs?: number;
}

export class GitCommandError extends Error {
  readonly stderr: string;
  readonly exitCode: number | null;
  constructor(message: string, stderr: string, exitCode: number | null) {
    super(message);
    this.name = "GitCommandError";
    this.stderr = stderr;
    this.exitCode = exitCode;
  }
}

/**
 * Runs one git command the way devflow always does: on an explicit git directory
 * and work tree (`GIT_DIR`/`GIT_WORK_TREE`, so no `.git` found in the tree is
 * ever used), with the hardened environment of {@link gitEnvironment}, in a
 * process group of its own that is killed when the time limit passes. Resolves
 * with stdout; rejects with a {@link GitCommandError} carrying stderr.
 */
export function runGit(options: RunGitOptions): Promise<string> {
  const env = gitEnvironment({ auth: options.auth, extra: options.env ?? {} });
  if (options.gitDir !== undefined) env.GIT_DIR = options.gitDir;
  if (options.workTree !== undefined) env.GIT_WORK_TREE = options.workTree;
  const timeoutMs = options.timeoutMs ?? GIT_TIMEOUT_MS;
  const cwd = options.cwd ?? options.workTree ?? options.gitDir ?? "/";
  return new Promise((resolve, reject) => {
    const child = spawn("git", options.args, {
      cwd,
      env,
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let size = 0;
    let timedOut = false;
    const collect = (into: Buffer[]) => (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_OUTPUT) into.push(chunk);
    };
    child.stdout.on("data", collect(out));
    child.stderr.on("data", collect(err));
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        if (child.pid !== undefined) process.kill(-child.pid, "SIGKILL");
      } catch {
        // Gone already.
      }
    }, timeoutMs);
    child.once("error", (error) => {
      clearTimeout(timer);
      reject(new GitCommandError(`git could not run: ${error.message}`, "", null));
    });
    child.once("close", (code) => {
      clearTimeout(timer);
      const stderr = Buffer.concat(err).toString("utf8");
      if (timedOut) {
        reject(
          new GitCommandError(
            `git ${options.args[0]} did not finish within ${Math.round(timeoutMs / 1000)} s and was killed`,
            stderr,
            null,
          ),
        );
      } else if (code !== 0) {
        const first = stderr.trim().split("\n").at(-1) ?? "";
        reject(
          new GitCommandError(
            `git ${options.args[0]} failed (exit ${code}): ${first}`,
            stderr,
            code,
          ),
        );
      } else if (size > MAX_OUTPUT) {
        reject(new GitCommandError(`git ${options.args[0]} printed too much`, stderr, code));
      } else {
        resolve(Buffer.concat(out).toString("utf8"));
      }
    });
  });
}

/** Wraps a git failure as the workspace error users see, with the cause kept. */
export function gitFailure(what: string, error: unknown, code: string): DevflowError {
  if (error instanceof DevflowError) return error;
  return new DevflowError(`${what}: ${(error as Error).message.split("\n")[0]}`, {
    class: "recoverable",
    code,
    category: "git",
    cause: error,
  });
}
