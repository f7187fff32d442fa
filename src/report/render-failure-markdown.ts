import { untrusted } from "../security/untrusted-text.ts";

/**
 * A recorded failure as people read it on GitHub: its category, its code in a code
 * span, and its message — which can quote an agent's own words, and be several
 * lines (the last lines it printed), so it is quoted below when it is.
 */
export function renderFailureMarkdown(failure: {
  category: string;
  code: string;
  message: string;
}): string {
  return `**${untrusted.inline(failure.category)}** ${untrusted.code(failure.code)}:${untrusted.trailing(failure.message)}`;
}
