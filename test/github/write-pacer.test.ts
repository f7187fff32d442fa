import { describe, expect, it } from "vitest";
import { createWritePacer } from "../../src/github/write-pacer.ts";

describe("the write pacer", () => {
  it("lets a burst go at once, then one write per interval, urgent writes first, each installation alone", async () => {
    const pacer = createWritePacer({ burst: 2, intervalMs: 60 });
    const order: string[] = [];
    const started = performance.now();
    const at: Record<string, number> = {};
    const write = (name: string, installation: number, urgent = false) =>
      pacer.take(installation, urgent).then(() => {
        order.push(name);
        at[name] = performance.now() - started;
      });
    await Promise.all([
      write("a", 1),
      write("b", 1),
      write("c", 1),
      write("d", 1),
      write("reaction", 1, true),
      write("other installation", 2),
    ]);
    // The burst, then the urgent one ahead of those that waited longer.
    expect(order.slice(0, 2)).toEqual(["a", "b"]);
    expect(order.indexOf("reaction")).toBeLessThan(order.indexOf("c"));
    expect(order.indexOf("c")).toBeLessThan(order.indexOf("d"));
    // Another installation has a bucket of its own: it did not wait for this one's.
    expect(order.indexOf("other installation")).toBeLessThan(order.indexOf("reaction"));
    // Three writes past the burst of two take at least two more intervals.
    expect(at.d).toBeGreaterThanOrEqual(2 * 60 - 5);
  });
});
