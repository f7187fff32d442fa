import { html, type SafeHtml } from "../html.ts";

export interface LayoutOptions {
  title: string;
  /** The signed-in person and the token their forms carry; none on the sign-in page. */
  user?: { login: string; csrf: string } | undefined;
  active?: "runs" | "queues";
  body: SafeHtml;
  /** Extra assets this page needs (charts). */
  scripts?: string[];
  styles?: string[];
}

/**
 * The console's page frame. Scripts and styles come from /console/assets only:
 * the Content-Security-Policy allows nothing inline and nothing from elsewhere.
 */
export function renderLayout(options: LayoutOptions): SafeHtml {
  const { user } = options;
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${options.title} · devflow</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/console/assets/console.css">
${(options.styles ?? []).map((href) => html`<link rel="stylesheet" href="${href}">`)}
<script src="/console/assets/console.js" defer></script>
${(options.scripts ?? []).map((src) => html`<script src="${src}" defer></script>`)}
</head>
<body>
<header class="top">
  <a class="brand" href="/console">devflow</a>
  ${
    user === undefined
      ? ""
      : html`<nav>
    <a href="/console"${options.active === "runs" ? html` aria-current="page"` : ""}>Runs</a>
    <a href="/console/queues"${options.active === "queues" ? html` aria-current="page"` : ""}>Queues</a>
  </nav>
  <form class="who" method="post" action="/console/sign-out">
    <span>${user.login}</span>
    <input type="hidden" name="csrf" value="${user.csrf}">
    <button type="submit">Sign out</button>
  </form>`
  }
</header>
<main>
${options.body}
</main>
</body>
</html>
`;
}
