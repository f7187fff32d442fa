import { html, type SafeHtml } from "../html.ts";

export interface SignInPageOptions {
  /** Whether the app's OAuth credentials are set: without them nobody can sign in. */
  configured: boolean;
  /** The URL to register as the app's callback URL. */
  callbackUrl: string;
  /** Where signing in leads back to. */
  next: string;
  error?: string | undefined;
}

/**
 * The one page shown without a session: a button to sign in with GitHub, or — until
 * the operator set the app's OAuth credentials — how to enable sign-in.
 */
export function renderSignInPage(options: SignInPageOptions): SafeHtml {
  if (!options.configured) {
    return html`<h1>Sign-in is not set up yet</h1>
<p>devflow's console signs people in with the GitHub App's own OAuth credentials. To enable it:</p>
<ol>
  <li>In the GitHub App's settings, copy its <strong>Client ID</strong> and generate a <strong>client secret</strong>.</li>
  <li>Add this <strong>Callback URL</strong> to the app: <code class="copy">${options.callbackUrl}</code></li>
  <li>Set <code>GITHUB_CLIENT_ID</code>, <code>GITHUB_CLIENT_SECRET</code> and <code>DEVFLOW_PUBLIC_URL</code> (this server's public address) and restart devflow.</li>
</ol>`;
  }
  return html`<div class="sign-in">
<h1>Sign in to devflow</h1>
<p>See the runs of the repositories you can read on GitHub, and steer the ones you may.</p>
${options.error === undefined ? "" : html`<p class="refusal" role="alert">${options.error}</p>`}
<p><a class="button" href="/console/sign-in/github?next=${encodeURIComponent(options.next)}">Sign in with GitHub</a></p>
<p class="sub">Callback URL to register in the GitHub App: <code>${options.callbackUrl}</code></p>
</div>`;
}
