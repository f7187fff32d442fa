-- A run's events are numbered 1, 2, 3, ... with no gap and no repeat. The engine
-- takes seq under the run's row lock; this trigger makes the database refuse any
-- insert that would break the numbering, whoever writes it.
CREATE FUNCTION run_events_seq_is_next() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  expected bigint;
BEGIN
  SELECT coalesce(max(seq), 0) + 1 INTO expected FROM run_events WHERE run_id = NEW.run_id;
  IF NEW.seq <> expected THEN
    RAISE EXCEPTION 'run_events.seq for run % must be %, got %', NEW.run_id, expected, NEW.seq
      USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END;
$$;
--> statement-breakpoint
CREATE TRIGGER run_events_gapless
  BEFORE INSERT ON run_events
  FOR EACH ROW EXECUTE FUNCTION run_events_seq_is_next();
--> statement-breakpoint
CREATE FUNCTION run_events_are_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'run_events are append-only' USING ERRCODE = 'check_violation';
END;
$$;
--> statement-breakpoint
CREATE TRIGGER run_events_append_only
  BEFORE UPDATE ON run_events
  FOR EACH ROW EXECUTE FUNCTION run_events_are_append_only();
