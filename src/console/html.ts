/** HTML that is safe to send as is: made by `html`, or trusted by `raw`. */
export class SafeHtml {
  readonly value: string;
  constructor(value: string) {
    this.value = value;
  }
  toString(): string {
    return this.value;
  }
}

const ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
  "`": "&#96;",
};

/** Text made safe for HTML element content and quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"'`]/g, (char) => ESCAPES[char] ?? char);
}

type Interpolation = SafeHtml | string | number | boolean | null | undefined | Interpolation[];

function render(value: Interpolation): string {
  if (value === null || value === undefined || value === false) return "";
  if (value instanceof SafeHtml) return value.value;
  if (Array.isArray(value)) return value.map(render).join("");
  return escapeHtml(String(value));
}

/**
 * The console's only way to build HTML: every interpolated value is escaped unless
 * it is itself `SafeHtml` (another `html` fragment, or `raw` output of a renderer
 * that escapes, such as markdown-it with HTML off). Arrays are joined; null,
 * undefined and false render as nothing.
 *
 * @example
 * html`<td>${run.issueTitle}</td>` // "<script>" in the title arrives as text
 */
export function html(strings: TemplateStringsArray, ...values: Interpolation[]): SafeHtml {
  let out = strings[0] ?? "";
  values.forEach((value, index) => {
    out += render(value) + (strings[index + 1] ?? "");
  });
  return new SafeHtml(out);
}

/** Marks a string as safe HTML: only for the output of renderers that escape. */
export function raw(value: string): SafeHtml {
  return new SafeHtml(value);
}

/** JSON for a `<script type="application/json">` block: no `<` can end the block early. */
export function jsonScript(value: unknown): SafeHtml {
  return new SafeHtml(
    JSON.stringify(value)
      .replaceAll("<", "\\u003c")
      .replaceAll(">", "\\u003e")
      .replaceAll("&", "\\u0026"),
  );
}
