import { createHash } from "node:crypto";
import { readdirSync, statSync } from "node:fs";

/** The host identity an execution's agent runs as. */
export interface SandboxUser {
  uid: number;
  gid: number;
  /** Whether it is an identity of its own (devflow runs as root), not devflow's. */
  dedicated: boolean;
}

/**
 * The host uids agents get when devflow runs as root: a block no account, no
 * container runtime's subordinate ids (100000 and up, by default 65536 each) and
 * no systemd dynamic user (61184–65519) uses, so a file an agent leaves is owned
 * by nobody and a process it leaves is nobody's either.
 */
export const SANDBOX_UIDS = { first: 2_000_000_000, count: 65_536 } as const;

/** The uids of every process on this host (the owners of their /proc entries). */
function uidsInUse(): Set<number> {
  const used = new Set<number>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      used.add(statSync(`/proc/${name}`).uid);
    } catch {
      // Gone meanwhile.
    }
  }
  return used;
}

/**
 * The identity of one execution's agent. As root, a uid (and gid) of its own from
 * SANDBOX_UIDS, chosen from the execution id and moved on past any uid a process
 * already runs as, so two sandboxes never share one: what one agent owns the next
 * cannot touch, and a per-uid process limit is a per-execution limit. Otherwise
 * devflow's own uid: an unprivileged user cannot hand out another.
 */
export async function sandboxUser(executionId: string): Promise<SandboxUser> {
  const own = process.getuid?.();
  if (own !== 0) {
    return { uid: own ?? 65_534, gid: process.getgid?.() ?? 65_534, dedicated: false };
  }
  const start = createHash("sha256").update(executionId).digest().readUInt32BE(0);
  const used = uidsInUse();
  for (let step = 0; step < SANDBOX_UIDS.count; step += 1) {
    const uid = SANDBOX_UIDS.first + ((start + step) % SANDBOX_UIDS.count);
    if (!used.has(uid)) return { uid, gid: uid, dedicated: true };
  }
  throw new Error("every sandbox uid is in use");
}
