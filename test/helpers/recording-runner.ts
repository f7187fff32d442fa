import { DevflowError } from "../../src/errors.ts";
import { createInProcessRunner } from "../../src/runner/in-process-runner.ts";
import { RUNNER_EXECUTION_GONE, type Runner, type RunnerHandle } from "../../src/runner/runner.ts";

/**
 * The in-process runner with a log of what was asked of it and switches to make
 * capture or disposal fail, the way a runner that lost its container would.
 */
export interface RecordingRunner extends Runner {
  events: ("capture" | "dispose")[];
  captureHandles: RunnerHandle[];
  disposeHandles: RunnerHandle[];
  disposeCalls: number;
  failCapture: boolean;
  failDispose: boolean;
  /** Capture throws for an execution that was disposed before (a removed container). */
  failCaptureAfterDispose: boolean;
}

export function createRecordingRunner(): RecordingRunner {
  const inner = createInProcessRunner();
  const disposed = new Set<string>();
  const recorder: RecordingRunner = {
    backend: "in-process",
    events: [],
    captureHandles: [],
    disposeHandles: [],
    disposeCalls: 0,
    failCapture: false,
    failDispose: false,
    failCaptureAfterDispose: false,
    view: (request) => inner.view(request),
    start: (request) => inner.start(request),
    wait: (handle) => inner.wait(handle),
    async capture(handle, fromSeq) {
      recorder.events.push("capture");
      recorder.captureHandles.push(handle);
      if (recorder.failCaptureAfterDispose && disposed.has(String(handle.executionId))) {
        throw new DevflowError("the execution was removed", {
          class: "recoverable",
          code: RUNNER_EXECUTION_GONE,
          category: "runner",
        });
      }
      if (recorder.failCapture) {
        throw new DevflowError("transcript capture failed", {
          class: "recoverable",
          code: "runner_capture_failed",
          category: "runner",
        });
      }
      return inner.capture(handle, fromSeq);
    },
    async dispose(handle) {
      recorder.events.push("dispose");
      recorder.disposeHandles.push(handle);
      recorder.disposeCalls += 1;
      if (recorder.failDispose) {
        throw new DevflowError("dispose failed", {
          class: "recoverable",
          code: "runner_stop_failed",
          category: "runner",
        });
      }
      disposed.add(String(handle.executionId));
      await inner.dispose(handle);
    },
  };
  return recorder;
}
