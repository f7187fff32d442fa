import { probeCgroups } from "../../runner/sandbox/sandbox-limits.ts";
import { SANDBOX_UIDS } from "../../runner/sandbox/sandbox-user.ts";
import type { Settings } from "../../settings.ts";
import type { Check } from "./check.ts";

/**
 * Who the process sandbox's agents are on this host and what holds them: a uid
 * of their own when devflow is root, and a cgroup per execution where devflow may
 * make one — otherwise which limits still hold, and what would make the rest.
 */
export function checkSandboxLimits(
  settings: Pick<Settings, "sandboxLimits" | "sandboxCgroup">,
): Check[] {
  const { pids, memoryMb, tmpMb } = settings.sandboxLimits;
  const root = process.getuid?.() === 0;
  const last = SANDBOX_UIDS.first + SANDBOX_UIDS.count - 1;
  const identity: Check = root
    ? {
        name: "sandbox user",
        status: "ok",
        detail: `each execution's agent runs as a host uid of its own (${SANDBOX_UIDS.first}–${last}) that owns nothing once it ends`,
      }
    : {
        name: "sandbox user",
        status: "ok",
        detail: `agents run as devflow's own uid ${process.getuid?.()}: they can read what that user can outside the sandbox's mounts only through what devflow shows them; what they leave is taken back when they end`,
      };
  const cgroups = probeCgroups(settings.sandboxCgroup);
  const tmp = `/tmp and /var/tmp ${tmpMb} MiB each`;
  if (
    cgroups.kind !== "none" &&
    cgroups.parents.pids !== undefined &&
    cgroups.parents.memory !== undefined
  ) {
    return [
      identity,
      {
        name: "sandbox limits",
        status: "ok",
        detail: `a cgroup ${cgroups.kind} group per execution: ${pids} processes, ${memoryMb} MiB of memory; ${tmp}`,
      },
    ];
  }
  const processes =
    cgroups.parents.pids !== undefined
      ? `${pids} processes (cgroup)`
      : root
        ? `${pids} processes (RLIMIT_NPROC of the execution's own uid)`
        : "processes NOT limited";
  const memory =
    cgroups.parents.memory !== undefined ? `${memoryMb} MiB of memory` : "memory NOT limited";
  return [
    identity,
    {
      name: "sandbox limits",
      status: "warn",
      detail: `${processes}, ${memory}, ${tmp}: ${cgroups.note ?? "no cgroup devflow may use"}`,
      fix: "run devflow as root, or in a systemd unit with Delegate=yes and DEVFLOW_SANDBOX_CGROUP set to the group it owns, so each execution gets a cgroup with DEVFLOW_SANDBOX_PIDS and DEVFLOW_SANDBOX_MEMORY_MB; or use DEVFLOW_RUNNER=docker",
    },
  ];
}
