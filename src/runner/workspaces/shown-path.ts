const PLAIN = /^[\x20-\x7e]$/;
const ESCAPES: Record<string, string> = { "\n": "\\n", "\t": "\\t", '"': '\\"', "\\": "\\\\" };

/**
 * A path from the agent's tree, as devflow names it in a commit message: as it is
 * when it is printable ASCII, else quoted with C-style escapes (`"odd\nname"`,
 * `"bytes-\xff"`), so a newline in a name cannot start a line of its own and a
 * byte that is not UTF-8 is shown as the byte it is.
 *
 * @example
 * shownPath(Buffer.from("odd\nname/.git")); // '"odd\\nname/.git"'
 */
export function shownPath(path: Buffer): string {
  let shown = "";
  let quoted = false;
  for (const byte of path) {
    const char = String.fromCharCode(byte);
    const escaped = ESCAPES[char];
    if (escaped === undefined && PLAIN.test(char)) {
      shown += char;
    } else {
      shown += escaped ?? `\\x${byte.toString(16).padStart(2, "0")}`;
      quoted = true;
    }
  }
  return quoted ? `"${shown}"` : shown;
}
