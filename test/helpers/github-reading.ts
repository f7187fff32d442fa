import MarkdownIt from "markdown-it";

/**
 * Markdown as GitHub renders it (CommonMark with tables, strikethrough, bare links
 * and raw HTML let through) and what GitHub then acts on in the result: mentions
 * and closing keywords in its text, tags that load something, and the document's
 * own structure (headings and code blocks outside any quote).
 */
const markdown = new MarkdownIt({ html: true, linkify: true });

/** The tags a Markdown renderer makes of Markdown itself; any other came in raw. */
const MARKDOWN_TAGS = new Set(
  "p blockquote code pre ul ol li em strong s a h1 h2 h3 h4 h5 h6 table thead tbody tr th td br hr".split(
    " ",
  ),
);

/** A mention: @ and a name, after anything but a letter or digit (stricter than GitHub). */
export const MENTION = /(?<![A-Za-z0-9])@[A-Za-z0-9]/;

/** A closing keyword and what it could close, after anything but letters. */
export const CLOSING =
  /(?<![A-Za-z0-9])(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?)(?![A-Za-z0-9])[^A-Za-z0-9]{0,12}(?:\d|gh-\d|https?:|www\.|[\w.-]+\/[\w.-]+#\d)/i;

export interface GitHubReading {
  html: string;
  /** Text as GitHub's mention filter sees it: each element's text apart. */
  mentions: string[];
  /** Text as one string, elements joined (fi<strong>xes</strong> reads "fixes"). */
  closings: string[];
  /** Tags that did not come from Markdown (img, picture, video, comments…). */
  rawTags: string[];
  /** Headings outside any quote, by their text. */
  headings: string[];
  /** Code blocks outside any quote, by their content. */
  codeBlocks: string[];
}

function decode(text: string): string {
  return text
    .replaceAll("&lt;", "<")
    .replaceAll("&gt;", ">")
    .replaceAll("&quot;", '"')
    .replaceAll("&amp;", "&");
}

function all(pattern: RegExp, text: string): string[] {
  const global = new RegExp(pattern.source, `${pattern.flags.replace("g", "")}g`);
  return [...text.matchAll(global)].map((match) => match[0]);
}

export function readAsGitHub(source: string): GitHubReading {
  const html = markdown.render(source);
  const rawTags = [...html.matchAll(/<(!--|\/?[A-Za-z][\w-]*)/g)]
    .map((match) => (match[1] ?? "").replace("/", "").toLowerCase())
    .filter((tag) => !MARKDOWN_TAGS.has(tag));
  const apart = decode(html.replace(/<[^>]*>/g, " "));
  const joined = decode(html.replace(/<[^>]*>/g, ""));
  const headings: string[] = [];
  const codeBlocks: string[] = [];
  let quoted = 0;
  const tokens = markdown.parse(source, {});
  tokens.forEach((token, index) => {
    if (token.type === "blockquote_open") quoted += 1;
    if (token.type === "blockquote_close") quoted -= 1;
    if (quoted > 0) return;
    if (token.type === "heading_open") headings.push(tokens[index + 1]?.content ?? "");
    if (token.type === "fence" || token.type === "code_block") codeBlocks.push(token.content);
  });
  return {
    html,
    mentions: all(MENTION, apart),
    closings: all(CLOSING, joined),
    rawTags,
    headings,
    codeBlocks,
  };
}
