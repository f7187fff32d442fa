import { spawnSync } from "node:child_process";
import { type BubblewrapFeatures, isolationArgs } from "./bubblewrap.ts";
import { sandboxLaunch } from "./sandbox-launch.ts";
import { SANDBOX_UIDS } from "./sandbox-user.ts";
import { systemMounts } from "./sandbox-view.ts";

export type BubblewrapProbe =
  | ({ ok: true; version: string; tmpfsSize: boolean } & BubblewrapFeatures)
  | { ok: false; problem: string; fix: string };

/**
 * Whether agents can be sandboxed on this host: bubblewrap is installed and can
 * set up the very isolation devflow asks of it (user, pid, network, ipc and uts
 * namespaces, a fresh /proc). Says what failed and how to fix it otherwise.
 */
export function probeBubblewrap(): BubblewrapProbe {
  const version = spawnSync("bwrap", ["--version"], { encoding: "utf8" });
  if (version.error !== undefined || version.status !== 0) {
    return {
      ok: false,
      problem: `bubblewrap is not installed (${version.error?.message ?? version.stderr.trim()})`,
      fix: "install it (Debian/Ubuntu: apt-get install bubblewrap; Fedora: dnf install bubblewrap), or run agents in containers with DEVFLOW_RUNNER=docker",
    };
  }
  const help = spawnSync("bwrap", ["--help"], { encoding: "utf8" });
  const said = `${help.stdout}${help.stderr}`;
  const features: BubblewrapFeatures = {
    disableUserns: said.includes("--disable-userns"),
    tmpfsSize: said.includes("--size"),
  };
  // Tried as agents run: as root, bubblewrap starts as an unprivileged uid of the sandbox block.
  const root = process.getuid?.() === 0;
  const [command, ...args] = sandboxLaunch({
    user: root
      ? { uid: SANDBOX_UIDS.first, gid: SANDBOX_UIDS.first, dedicated: true }
      : { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0, dedicated: false },
    cgroupProcs: [],
    stageDir: "/",
    staged: [],
    bwrap: [
      "bwrap",
      ...isolationArgs(features),
      ...systemMounts(),
      "--proc",
      "/proc",
      "--dev",
      "/dev",
      "--",
      "true",
    ],
  }) as [string, ...string[]];
  const trial = spawnSync(command, args, { encoding: "utf8", timeout: 10_000 });
  if (trial.status !== 0) {
    const said = (trial.stderr || trial.error?.message || `exit ${trial.status}`).trim();
    return {
      ok: false,
      problem: `bubblewrap cannot create the sandbox here: ${said}`,
      fix: /bwrap: Permission denied|cannot open .*bwrap/i.test(said)
        ? "make bubblewrap and the directories on its path readable and executable by every user: as root, devflow starts it as the agents' own uid"
        : /user namespace|setting up uid map|Operation not permitted|Permission denied/i.test(said)
          ? "allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1; on Ubuntu 24.04 also kernel.apparmor_restrict_unprivileged_userns=0 or an AppArmor profile for bwrap); inside a container, run devflow with DEVFLOW_RUNNER=docker instead"
          : "run devflow on a Linux host where bubblewrap works, or use DEVFLOW_RUNNER=docker",
    };
  }
  return { ok: true, version: version.stdout.trim(), tmpfsSize: false, ...features };
}
