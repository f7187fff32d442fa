/**
 * What an agent has spent so far, read from its output as it runs, so that devflow
 * can stop it when the run's budget is spent rather than after the fact. Each
 * adapter whose CLI reports usage while it works offers one (`AgentAdapter.meter`).
 */
export interface UsageMeter {
  /** One line of the agent's output, in order. */
  read(line: string): void;
  /** Dollars spent so far; undefined while nothing priced has been seen. */
  costUsd(): number | undefined;
}

/** Feeds text that arrives in arbitrary pieces to a meter, line by line. */
export function lineFeeder(meter: UsageMeter): { push(text: string): void } {
  let carry = "";
  return {
    push(text) {
      const lines = (carry + text).split("\n");
      carry = lines.pop() ?? "";
      for (const line of lines) meter.read(line);
      // A line without its end yet is read once complete; a huge one is read as is.
      if (carry.length > 1_000_000) {
        meter.read(carry);
        carry = "";
      }
    },
  };
}

/** Dollars per million tokens. */
interface Rate {
  input: number;
  output: number;
  /** Reading the prompt cache; a tenth of input where the vendor says nothing else. */
  cacheRead?: number;
  /** Writing the prompt cache. */
  cacheWrite?: number;
}

/**
 * List prices devflow estimates with while an attempt runs (the CLI's own figure,
 * when it prints one at the end, is what gets recorded). Matched by the first
 * pattern the model id contains; a model of a known family that is not listed gets
 * the family's dearest rate, so an estimate errs towards stopping early.
 */
const RATES: [RegExp, Rate][] = [
  [/opus-5/, { input: 4, output: 20, cacheWrite: 5 }],
  [/opus-4-[5-9]/, { input: 5, output: 25, cacheWrite: 6.25 }],
  [/opus/, { input: 15, output: 75, cacheWrite: 18.75 }],
  [/sonnet/, { input: 3, output: 15, cacheWrite: 3.75 }],
  [/haiku-3/, { input: 0.8, output: 4, cacheWrite: 1 }],
  [/haiku/, { input: 1, output: 5, cacheWrite: 1.25 }],
  [/gpt-5.*mini/, { input: 0.25, output: 2 }],
  [/gpt-5.*nano/, { input: 0.05, output: 0.4 }],
  [/gpt-5|codex/, { input: 1.25, output: 10 }],
  [/o4-mini|o3-mini/, { input: 1.1, output: 4.4 }],
  [/gpt-4\.1/, { input: 2, output: 8 }],
];

export interface TokenCounts {
  input?: number | undefined;
  output?: number | undefined;
  cacheRead?: number | undefined;
  cacheWrite?: number | undefined;
}

/** The list price of `tokens` on `model`, or undefined for a model devflow has no price for. */
export function estimateCostUsd(model: string, tokens: TokenCounts): number | undefined {
  const rate = RATES.find(([pattern]) => pattern.test(model.toLowerCase()))?.[1];
  if (rate === undefined) return undefined;
  const perToken = (perMillion: number) => perMillion / 1_000_000;
  return (
    (tokens.input ?? 0) * perToken(rate.input) +
    (tokens.output ?? 0) * perToken(rate.output) +
    (tokens.cacheRead ?? 0) * perToken(rate.cacheRead ?? rate.input / 10) +
    (tokens.cacheWrite ?? 0) * perToken(rate.cacheWrite ?? rate.input)
  );
}
