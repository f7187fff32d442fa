/**
 * Text an agent wrote (or a reviewer, quoted back), made safe to publish in a
 * pull request body or a comment on GitHub, where Markdown does more than show
 * text: an `@name` notifies a person or a team, "fixes #12" (or
 * "closes other/repo#3") in a pull request body closes that issue when it merges,
 * and an image makes every reader's browser fetch what it names. A zero-width
 * space breaks each of them; the words read the same.
 */
const ZWSP = "\u200b";

export function untrustedMarkdown(text: string): string {
  return (
    text
      // @mentions of people and teams (not e-mail addresses: a word character before).
      .replaceAll(/(^|[^\w`])@(?=[A-Za-z0-9])/g, `$1@${ZWSP}`)
      // Closing keywords before an issue reference.
      .replaceAll(
        /\b(clos|fix|resolv)(e[sd]?|es|ed)?\b(?=\s*:?\s*[\w.-]*(?:\/[\w.-]+)?#\d)/gi,
        (keyword: string) => `${keyword.slice(0, 2)}${ZWSP}${keyword.slice(2)}`,
      )
      // Images: shown as the link they are.
      .replaceAll("![", `!${ZWSP}[`)
  );
}
