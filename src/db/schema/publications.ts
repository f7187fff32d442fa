import { jsonb, pgTable, timestamp, uuid } from "drizzle-orm/pg-core";
import { runs } from "./runs.ts";

/** What devflow has published for a run on GitHub: the ids to update, and what they last said. */
export interface PublishedState {
  reacted?: boolean;
  /** The status comment and the final report comment: id and a hash of the text. */
  comments?: Partial<Record<"status" | "report", { id: number; hash: string }>>;
  pullRequestNodeId?: string;
  pullRequestBodyHash?: string;
  readyForReview?: boolean;
  /** Check runs by external id: their id, the commit they are on, a hash of what they say. */
  checkRuns?: Record<string, { id: number; sha: string; hash: string; running?: boolean }>;
}

/**
 * One row per run that came from GitHub. Publishing reconciles the run's state
 * against these stored external ids: it updates what exists, creates what does
 * not, and writes nothing when nothing changed.
 */
export const githubPublications = pgTable("github_publications", {
  runId: uuid("run_id")
    .primaryKey()
    .references(() => runs.id, { onDelete: "cascade" }),
  state: jsonb("state").$type<PublishedState>().notNull().default({}),
  updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
});
