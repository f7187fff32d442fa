/**
 * What an agent is doing now, in a few short lines, read from the end of its
 * transcript: the tool calls of the CLIs that stream JSON events (claude-code's
 * stream-json, codex's --json), and plain lines otherwise. Usage lines are
 * skipped. The result is shown to people on GitHub: one line each, cut short.
 */
export function describeActivity(transcriptTail: string, max = 5): string[] {
  const lines = transcriptTail.split("\n");
  // The first line may be cut by the tail: it is not read.
  if (lines.length > 1) lines.shift();
  const seen: string[] = [];
  for (const raw of lines) {
    const line = stripControl(raw).trim();
    if (line === "" || line.startsWith("devflow-usage:")) continue;
    const described = line.startsWith("{") ? fromJson(line) : line;
    if (described !== undefined && described !== "") seen.push(short(described));
  }
  return seen.slice(-max);
}

function short(text: string, limit = 160): string {
  const one = text.replaceAll(/\s+/g, " ");
  return one.length <= limit ? one : `${one.slice(0, limit - 1)}…`;
}

const ESC = 0x1b;

/** Drops ANSI escape sequences and other control characters (an agent's terminal output carries them). */
function stripControl(text: string): string {
  let out = "";
  for (let i = 0; i < text.length; i += 1) {
    const code = text.charCodeAt(i);
    if (code === ESC && text[i + 1] === "[") {
      // CSI: parameters up to a final letter.
      let end = i + 2;
      while (end < text.length && !/[A-Za-z]/.test(text[end] ?? "")) end += 1;
      i = end;
      continue;
    }
    if (code < 0x20 || code === 0x7f) continue;
    out += text[i];
  }
  return out;
}

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/** A tool call's most telling argument: the command, the file, the pattern. */
function toolCall(name: string, input: unknown): string {
  if (!isObject(input)) return name;
  for (const key of ["command", "file_path", "path", "pattern", "url", "query", "description"]) {
    const value = input[key];
    if (typeof value === "string" && value !== "") return `${name}: ${value}`;
  }
  return name;
}

function fromJson(line: string): string | undefined {
  let event: unknown;
  try {
    event = JSON.parse(line);
  } catch {
    return line;
  }
  if (!isObject(event)) return undefined;
  // claude-code stream-json: assistant messages carry tool_use and text blocks.
  const message = event.message;
  if (event.type === "assistant" && isObject(message) && Array.isArray(message.content)) {
    const parts = message.content
      .filter(isObject)
      .map((block) =>
        block.type === "tool_use"
          ? toolCall(String(block.name ?? "tool"), block.input)
          : block.type === "text" && typeof block.text === "string"
            ? block.text
            : "",
      )
      .filter((part) => part !== "");
    return parts.length === 0 ? undefined : parts.join(" · ");
  }
  // codex --json: items started or completed (commands, file changes, messages).
  const item = event.item;
  if (isObject(item)) {
    if (item.type === "command_execution" && typeof item.command === "string")
      return `$ ${item.command}`;
    if (item.type === "file_change" && Array.isArray(item.changes))
      return `edit ${item.changes
        .filter(isObject)
        .map((change) => String(change.path ?? ""))
        .join(", ")}`;
    if (typeof item.text === "string") return item.text;
    return undefined;
  }
  return undefined;
}
