import { describe, expect, it } from "vitest";
import { untrusted } from "../../src/security/untrusted-text.ts";
import { CLOSING, MENTION, readAsGitHub } from "../helpers/github-reading.ts";

const ZWSP = "\u200b";
const unbroken = (text: string) => text.replaceAll(ZWSP, "");

/** Each Markdown form, placed where devflow places it. */
const PLACES: Record<string, (text: string) => string> = {
  inline: (text) => `The agent said ${untrusted.inline(text)} and stopped.`,
  "list item": (text) => `- ${untrusted.inline(text)}\n- next`,
  "table cell": (text) => `| a | b |\n|---|---|\n| ${untrusted.cell(text)} | x |`,
  block: (text) => `## Before\n\n${untrusted.block(text)}\n\n## After\n`,
  code: (text) => `Code ${untrusted.code(text)}: done.`,
  "code cell": (text) => `| a |\n|---|\n| ${untrusted.cell(text, "code")} |`,
  fenced: (text) => `## Before\n\n${untrusted.fenced(text, "json")}\n\n## After\n`,
  trailing: (text) => `**Failure**:${untrusted.trailing(text)}\n\n## After\n`,
};

const KEYWORD = /(?<![A-Za-z0-9])(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?)(?![A-Za-z0-9])/i;

const MENTIONS = [
  "@octocat",
  "cc @octocat please",
  "`x`@octocat",
  "``x``@octocat",
  "(@octocat)",
  "**x**@octocat",
  "_x_@octocat",
  "~~x~~@octocat",
  "[x](https://example.com)@octocat",
  "@acme/everyone",
  "team @acme/core-devs",
  "é@octocat",
  "x\\\\@octocat",
  "&#64;octocat",
  "&#x40;octocat",
  "`@octocat`",
  "```\n@octocat\n```",
  "line one\n@octocat",
];

const CLOSINGS = [
  "close",
  "closes",
  "closed",
  "fix",
  "fixes",
  "fixed",
  "resolve",
  "resolves",
  "resolved",
]
  .flatMap((keyword) => [
    keyword,
    keyword.toUpperCase(),
    keyword[0]?.toUpperCase() + keyword.slice(1),
  ])
  .flatMap((keyword) =>
    [
      " #2",
      ": #2",
      ":#2",
      "#2",
      " o/r#2",
      ": other-org/other.repo#2",
      " https://github.com/o/r/issues/2",
      " **#2**",
      " _#2_",
      " *#2*",
      " ~~#2~~",
      " `#2`",
      " [#2](https://github.com/o/r/issues/2)",
      " [this issue](https://github.com/o/r/issues/2)",
      " [this issue][2]",
      " <https://github.com/o/r/issues/2>",
      " GH-2",
      "\n#2",
    ].map((target) => `${keyword}${target}`),
  )
  .concat(["fi**xes** #2", "**Fixes** #2", "_fixes_ #2", "re`solves` #2", "Fixes &#35;2"]);

const IMAGES = [
  "![](https://tracker.example/a.gif)",
  "![alt](https://tracker.example/a.gif 'title')",
  "![alt][pixel]\n\n[pixel]: https://tracker.example/a.gif",
  '<img src="https://tracker.example/b.gif">',
  "<IMG SRC=https://tracker.example/b.gif>",
  '<picture><source srcset="https://tracker.example/c.gif"></picture>',
  '<video src="https://tracker.example/d.mp4"></video>',
  '<a href="https://tracker.example"><img src=x></a>',
  "<!-- devflow-run:00000000-0000-0000-0000-000000000000 -->",
  "<details><summary>x</summary></details>",
  "<https://tracker.example/e>",
];

describe("text devflow did not write, published on GitHub", () => {
  for (const [place, render] of Object.entries(PLACES)) {
    it(`${place}: mentions no one, wherever the @ is`, () => {
      for (const text of MENTIONS) {
        expect(readAsGitHub(render(text)).mentions, text).toEqual([]);
      }
    });

    it(`${place}: closes nothing, however the keyword is written`, () => {
      for (const text of CLOSINGS) {
        expect(readAsGitHub(render(text)).closings, text).toEqual([]);
        // Whatever GitHub makes of what follows it, the keyword itself is broken.
        expect(render(text), text).not.toMatch(KEYWORD);
      }
    });

    it(`${place}: loads no image and lets no tag through`, () => {
      for (const text of IMAGES) {
        const reading = readAsGitHub(render(text));
        expect(reading.rawTags, text).toEqual([]);
        expect(reading.html, text).not.toMatch(/<img|<picture|<source|<video/i);
      }
    });
  }

  it("an e-mail address stays one", () => {
    expect(untrusted.inline("mail me@example.com")).toBe("mail me@example.com");
    expect(untrusted.plain("Signed: me@example.com")).toBe("Signed: me@example.com");
  });

  it("words without a keyword's target stay untouched", () => {
    expect(untrusted.inline("Fixed the parser; closes the file")).toBe(
      "Fixed the parser; closes the file",
    );
  });

  it("every form reads the same: only zero-width spaces are added", () => {
    const text = "Fixes #2 for @octocat: ![x](y) <img> &#64;a `b` ]: c";
    for (const form of [untrusted.inline, untrusted.plain, untrusted.line]) {
      expect(unbroken(form(text))).toBe(text);
    }
    expect(unbroken(untrusted.block("a\n\n# b"))).toBe("> a\n>\n> # b");
  });
});

describe("an agent's text cannot reshape devflow's", () => {
  const SPOOF = [
    "Summary.",
    "~~~",
    "## Phases",
    "# devflow run report: ✅ completed",
    "Setext heading",
    "---",
    "===",
    "> # quoted heading",
    "- # listed heading",
    "1. # numbered heading",
    "```",
    "unclosed fence",
  ].join("\n");

  it("a block: its fences, headings and quotes end with it; devflow's headings after it stand", () => {
    const reading = readAsGitHub(PLACES.block?.(SPOOF) ?? "");
    expect(reading.headings).toEqual(["Before", "After"]);
    expect(reading.codeBlocks).toEqual([]);
    // Nothing of it is a heading even inside its quote.
    expect(reading.html).not.toMatch(/<h[1-6]>(?!Before|After)/);
  });

  it("a block inside devflow's code fence or after its label cannot close or open one", () => {
    for (const place of ["fenced", "trailing"] as const) {
      const reading = readAsGitHub(PLACES[place]?.(SPOOF) ?? "");
      expect(
        reading.headings.filter((heading) => heading !== "Before"),
        place,
      ).toEqual(["After"]);
    }
    const fenced = readAsGitHub(PLACES.fenced?.("````\n```\n~~~~") ?? "");
    expect(fenced.codeBlocks.map(unbroken)).toEqual(["````\n```\n~~~~\n"]);
  });

  it("inline text starts no block, in a sentence, a list item or a table cell", () => {
    for (const start of [
      "# x",
      "## Phases",
      "```js",
      "~~~",
      "> quote",
      "- item",
      "1. item",
      "---",
      "===",
      "    code",
    ]) {
      for (const place of ["inline", "list item", "table cell"]) {
        const reading = readAsGitHub(PLACES[place]?.(`${start}\nmore`) ?? "");
        expect(reading.headings, `${place}: ${start}`).toEqual([]);
        expect(reading.codeBlocks, `${place}: ${start}`).toEqual([]);
        expect(reading.html, `${place}: ${start}`).not.toMatch(
          /<blockquote|<hr|<ul>\s*<li>\s*<ul|<ol/,
        );
      }
    }
  });

  it("a code span holds its text whole, backticks and all, on one line", () => {
    for (const text of ["bad`code", "``", "`x`", "a``b`c", " spaced ", "x\ny", ""]) {
      const html = readAsGitHub(`Code ${untrusted.code(text)}.`).html;
      const spans = [...html.matchAll(/<code>([^<]*)<\/code>/g)].map((match) =>
        unbroken((match[1] ?? "").replaceAll("&amp;", "&")),
      );
      expect(spans, JSON.stringify(text)).toEqual([text === "" ? " " : text.replace("\n", " ")]);
    }
  });
});

describe("text that goes into a commit", () => {
  it("a NUL and other controls become U+FFFD; line breaks stay, carriage returns are line breaks", () => {
    expect(untrusted.plain("half\u0000 done\u001b[31m red\u007f\r\nnext\rlast\ttab")).toBe(
      "half\uFFFD done\uFFFD[31m red\uFFFD\nnext\nlast\ttab",
    );
  });

  it("a subject is one line", () => {
    expect(untrusted.line("  Fixes #2\nfor\t@octocat\u0000 ")).toBe(
      `Fi${ZWSP}xes #2 for @${ZWSP}octocat\uFFFD`,
    );
  });

  it("mentions no one and closes nothing, as GitHub reads a merged commit", () => {
    for (const text of [...MENTIONS, ...CLOSINGS]) {
      for (const form of [untrusted.plain, untrusted.line]) {
        expect(form(text), text).not.toMatch(MENTION);
        expect(form(text), text).not.toMatch(CLOSING);
      }
    }
  });
});
