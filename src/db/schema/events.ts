import {
  bigint,
  bigserial,
  jsonb,
  pgTable,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from "drizzle-orm/pg-core";
import { runs } from "./runs.ts";

/**
 * The run's history. `seq` is gapless per run: it is taken from `runs.last_event_seq`
 * under the run's row lock, in the same transaction as the transition it records.
 */
export const runEvents = pgTable(
  "run_events",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    runId: uuid("run_id")
      .notNull()
      .references(() => runs.id, { onDelete: "cascade" }),
    seq: bigint("seq", { mode: "number" }).notNull(),
    type: text("type").notNull(),
    payload: jsonb("payload").$type<Record<string, unknown>>().notNull().default({}),
    idempotencyKey: text("idempotency_key").notNull(),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex("run_events_run_seq").on(t.runId, t.seq),
    uniqueIndex("run_events_idempotency_key").on(t.idempotencyKey),
  ],
);
