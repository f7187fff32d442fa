/**
 * Text devflow did not write — an agent's artifact, its error, a phase title from
 * its plan, a failure message quoting it, a reviewer's words quoted back — made
 * safe to publish on GitHub, where text does more than show: `@name` (or
 * `@org/team`) notifies, "fixes #12" (or "closes other/repo#3", or an issue's URL)
 * in a pull request body or a merged commit closes that issue, an image or raw
 * HTML makes every reader's browser fetch what it names, and a line starting with
 * `#` or a fence reshapes the text around it. Every form here breaks each of them
 * with a zero-width space, so the words read the same; none is left for a caller
 * to forget. The forms differ only in where the text goes.
 *
 * @example
 * `**${failure.category}** ${untrusted.code(failure.code)}:${untrusted.trailing(failure.message)}`
 */
const ZWSP = "\u200b";

/**
 * The letters of a closing keyword may be split by emphasis or code delimiters
 * (`fi**xes**` renders as one word), and the keyword may be followed by anything
 * but letters before what it closes: `#2`, `**#2**`, `: o/r#2`, `GH-2`, a URL, a
 * link (whose text may say anything).
 */
const GAP = "[*_~`]*";
const spelled = (word: string) => [...word].join(GAP);
const KEYWORD = `(?:${spelled("close")}(?:${GAP}[sd])?|${spelled("fix")}(?:${GAP}e${GAP}[sd])?|${spelled("resolve")}(?:${GAP}[sd])?)`;
const TARGET = String.raw`[^A-Za-z0-9]{0,40}?(?:\d|gh-\d|[\w.-]+/[\w.-]+#\d|[\w.-]+#\d|https?:|www\.|[\w-]+(?:\.[\w-]+)+/|[^\]\n]{0,200}\][(\[])`;
const CLOSING = new RegExp(`(?<![A-Za-z0-9])${KEYWORD}(?![A-Za-z0-9])(?=${TARGET})`, "gi");

/** C0 and C1 controls but tab and newline: git refuses a NUL, terminals obey an escape. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching them is the point.
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/g;

function breakKeyword(keyword: string): string {
  // After its second letter: "Fi\u200bxes" reads the same and is no keyword.
  let letters = 0;
  for (let index = 0; index < keyword.length; index += 1) {
    if (/[a-z]/i.test(keyword.charAt(index)) && ++letters === 2)
      return `${keyword.slice(0, index + 1)}${ZWSP}${keyword.slice(index + 1)}`;
  }
  return keyword;
}

/** What GitHub acts on in any text, a commit message as much as Markdown. */
function defuse(text: string): string {
  return (
    text
      .replace(/\r\n?/g, "\n")
      .replace(CONTROL, "\uFFFD")
      // A mention is an @ after anything but an ASCII letter or digit: GitHub reads
      // `x`@a, _x_@a and (@a) as mentions, me@example.com not.
      .replace(/(?<![A-Za-z0-9])@/g, `@${ZWSP}`)
      .replace(CLOSING, breakKeyword)
  );
}

/** What only Markdown does besides: images, raw HTML, entities, reference definitions, headings. */
function defuseMarkdown(text: string): string {
  return (
    defuse(text)
      .replaceAll("![", `!${ZWSP}[`)
      // No tag, comment or autolink starts with "<" and a zero-width space.
      .replaceAll("<", `<${ZWSP}`)
      // &#64;octocat would render as @octocat, after the mention was looked for.
      .replace(/&(?=#?[A-Za-z0-9]+;)/g, `&${ZWSP}`)
      // A reference definition applies to the whole document, devflow's words too.
      .replaceAll("]:", `]${ZWSP}:`)
      // An ATX heading, after a line's start, a quote or a list marker.
      .replace(/(^|[ \t>])(?=#{1,6}(?:[ \t]|$))/gm, `$1${ZWSP}`)
      // A setext underline or a thematic break.
      .replace(/^([ \t>]*)(?=(?:[-=_*][ \t]*)+$)/gm, `$1${ZWSP}`)
  );
}

/** Markdown that goes inside a sentence, a list item or a table cell: one line, starting no block. */
function inline(text: string): string {
  const line = defuseMarkdown(text)
    .replace(/\s*\n\s*/g, " ")
    .trim();
  return /^(?:[`~>#=|+*-]|\d{1,9}[.)](?:\s|$))/.test(line) ? `${ZWSP}${line}` : line;
}

/**
 * Markdown that stands as blocks of its own, quoted: whatever it opens (a fence, a
 * list, a heading) ends with the quote, so it cannot reach devflow's text after
 * it. Put it between blank lines.
 */
function block(text: string): string {
  return defuseMarkdown(text)
    .split("\n")
    .map((line) => (line === "" ? ">" : `> ${line}`))
    .join("\n");
}

/** A code span holding the text whole: its fence is longer than any run of backticks inside. */
function code(text: string): string {
  const one = defuseMarkdown(text).replaceAll("\n", " ");
  if (one === "") return "` `";
  const longest = Math.max(0, ...[...one.matchAll(/`+/g)].map((run) => run[0].length));
  const fence = "`".repeat(longest + 1);
  // One space each side is taken off again, so a backtick at an end stays the text's.
  const pad =
    one.startsWith("`") || one.endsWith("`") || (one.startsWith(" ") && one.endsWith(" "))
      ? " "
      : "";
  return `${fence}${pad}${one}${pad}${fence}`;
}

/** A fenced code block holding the text whole: no line inside can close its fence. */
function fenced(text: string, info = ""): string {
  const body = defuseMarkdown(text);
  const longest = Math.max(0, ...[...body.matchAll(/`+/g)].map((run) => run[0].length));
  const fence = "`".repeat(Math.max(3, longest + 1));
  return `${fence}${info}\n${body}\n${fence}`;
}

/**
 * What follows a label's colon on a line of devflow's: on the same line when it
 * is one line, else quoted below (its line breaks may carry a fence or a list).
 */
function trailing(text: string): string {
  return /[\r\n]/.test(text.trim()) ? `\n\n${block(text.trim())}\n` : ` ${inline(text)}`;
}

/** A table cell: inline, its pipes escaped (GitHub splits cells on them even inside code). */
function cell(text: string, as: "inline" | "code" = "inline"): string {
  return (as === "code" ? code(text) : inline(text)).replaceAll("|", "\\|");
}

/** Plain text GitHub still reads for mentions and closing keywords: a commit body. */
function plain(text: string): string {
  return defuse(text);
}

/** One line of plain text: a commit subject, a check run's title. */
function line(text: string): string {
  return defuse(text).replace(/\s+/g, " ").trim();
}

export const untrusted = { inline, block, code, fenced, trailing, cell, plain, line };
