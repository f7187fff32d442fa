import { existsSync } from "node:fs";
import type { SandboxUser } from "./sandbox-user.ts";

/**
 * Where the launcher shows its staging directory, over what the host has there (in its
 * own mount namespace only): /mnt, which hosts keep for a mount an operator makes
 * by hand, or /tmp where there is no /mnt. Whatever else the sandbox binds from
 * under it is staged too.
 */
export const STAGE_POINT = existsSync("/mnt") ? "/mnt" : "/tmp";

/**
 * What runs between devflow and bubblewrap, as the sandbox's first process. In
 * order: every file descriptor but 0–2 is closed (devflow may have inherited some
 * that are not close-on-exec, and bubblewrap passes on what it gets); the process
 * joins its execution's cgroups; and, as root only, in a mount namespace of its
 * own, each host directory the sandbox binds is mounted on an entry of devflow's
 * staging directory, shown at STAGE_POINT — so bubblewrap, started as the agent's unprivileged uid, reaches them
 * whatever the modes of their parents (a data directory under /root) and nothing
 * else. Then the limits and the uid, and bubblewrap. Exit code 125: the set-up
 * failed (what failed is on stderr, in the transcript).
 */
const SCRIPT = [
  // biome-ignore lint/suspicious/noTemplateCurlyInString: the shell's own ${fd##*/}
  'for fd in /proc/self/fd/*; do fd=${fd##*/}; if [ "$fd" -gt 2 ]; then eval "exec $fd>&-"; fi; done',
  'n=$1; shift; while [ "$n" -gt 0 ]; do printf "%s\\n" "$$" > "$1" || exit 125; shift; n=$((n - 1)); done',
  // Builtins, not another program: no core dumps, and the execution's process limit.
  'ulimit -c 0 || exit 125; if [ "$1" != - ]; then ulimit -u "$1" || exit 125; fi; shift',
  'stage=$1; n=$2; shift 2; if [ "$n" -gt 0 ]; then',
  '  i=0; while [ "$i" -lt "$n" ]; do mount --bind -- "$1" "$stage/$i" || exit 125; shift; i=$((i + 1)); done',
  `  mount --rbind "$stage" ${STAGE_POINT} || exit 125`,
  "fi",
  'exec "$@"',
].join("\n");

/** Where the launcher shows the `index`th staged host directory, for bubblewrap to bind. */
export function stagedPath(index: number): string {
  return `${STAGE_POINT}/${index}`;
}

export interface SandboxLaunchOptions {
  user: SandboxUser;
  /** cgroup.procs files to join. */
  cgroupProcs: string[];
  /** devflow's staging directory, holding an entry (a directory or a file) per staged path. */
  stageDir: string;
  /** Host directories (or files) to stage, in the order of `stagedPath`'s indexes; empty when not root. */
  staged: string[];
  /** RLIMIT_NPROC, for a dedicated uid (whose processes are this execution's alone). */
  nproc?: number;
  /** The bubblewrap command line (its sources as `stagedPath`s where staged). */
  bwrap: string[];
}

/** The command line that starts one sandbox: the launcher, then bubblewrap. */
export function sandboxLaunch(options: SandboxLaunchOptions): string[] {
  const { user } = options;
  const identity = user.dedicated
    ? [
        "setpriv",
        `--reuid=${user.uid}`,
        `--regid=${user.gid}`,
        "--clear-groups",
        "--no-new-privs",
        "--",
      ]
    : ["setpriv", "--no-new-privs", "--"];
  const launcher = [
    "bash",
    "-c",
    SCRIPT,
    "devflow-sandbox",
    String(options.cgroupProcs.length),
    ...options.cgroupProcs,
    options.nproc === undefined ? "-" : String(options.nproc),
    options.stageDir,
    String(options.staged.length),
    ...options.staged,
    ...identity,
    ...options.bwrap,
  ];
  // Mounting needs a mount namespace of its own, which only root may make.
  return options.staged.length > 0
    ? ["unshare", "--mount", "--propagation", "private", "--", ...launcher]
    : launcher;
}
