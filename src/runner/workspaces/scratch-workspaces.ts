import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import type { Workspaces } from "./workspaces.ts";

/**
 * A plain directory per run, for runs started without a repository to clone
 * (through the engine's API, or in tests): agents work in it, nothing is committed.
 */
export function createScratchWorkspaces({ root }: { root: string }): Workspaces {
  return {
    kind: "scratch",
    async prepare(run) {
      const path = join(root, run.id);
      await mkdir(path, { recursive: true });
      // Nothing is committed from a scratch directory: what agents wrote there is the
      // run's only copy of their work, kept until the run's data goes.
      return {
        path,
        readOnly: [],
        readBaseFile: async () => null,
        commit: async () => null,
        release: async () => undefined,
      };
    },
  };
}
