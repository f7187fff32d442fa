import type { Logger } from "pino";
import type { AttemptPort } from "./attempt-port.ts";

export interface AttemptHeartbeat {
  /** Whether some process stopped the attempt meanwhile (pause, abort, supersede). */
  readonly stopped: boolean;
  stop(): void;
}

/**
 * Beats for an attempt from the moment its job starts until its result is
 * reported — preparation, the agent, the commit and the push alike — so a slow
 * clone is never taken for a dead worker, and a worker that dies at any step is
 * noticed by the sweep. The first beat is at once.
 */
export function startAttemptHeartbeat(options: {
  engine: Pick<AttemptPort, "heartbeatAttempt">;
  attemptId: string;
  intervalMs: number;
  log: Logger;
}): AttemptHeartbeat {
  let stopped = false;
  const beat = () => {
    options.engine.heartbeatAttempt(options.attemptId).then(
      (running) => {
        if (!running) stopped = true;
      },
      (error: unknown) => options.log.warn({ err: error }, "attempt heartbeat failed"),
    );
  };
  beat();
  const timer = setInterval(beat, options.intervalMs);
  return {
    get stopped() {
      return stopped;
    },
    stop: () => clearInterval(timer),
  };
}
