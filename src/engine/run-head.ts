import { and, desc, eq, isNotNull } from "drizzle-orm";
import type { Tx } from "../db/client.ts";
import { phaseAttempts } from "../db/schema/index.ts";

/** The run branch's head: the commit of the attempt that committed last, if any did. */
export async function runHeadSha(tx: Tx, runId: string): Promise<string | null> {
  const [row] = await tx
    .select({ sha: phaseAttempts.commitSha })
    .from(phaseAttempts)
    .where(and(eq(phaseAttempts.runId, runId), isNotNull(phaseAttempts.commitSha)))
    .orderBy(desc(phaseAttempts.endedAt))
    .limit(1);
  return row?.sha ?? null;
}
