import { html, type SafeHtml } from "../html.ts";

/** "3 min", "2 h 5 min", "4 d": how long ago or how long, for people. */
export function formatDuration(ms: number): string {
  const seconds = Math.max(0, Math.round(ms / 1000));
  if (seconds < 60) return `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours} h ${minutes % 60} min`;
  return `${Math.floor(hours / 24)} d`;
}

/** A time as UTC, with the full instant in its title. */
export function formatTime(at: Date): SafeHtml {
  return html`<time datetime="${at.toISOString()}">${at.toISOString().slice(0, 19).replace("T", " ")} UTC</time>`;
}

/** Dollars, to the cent below a hundred. */
export function formatCost(usd: number | null | undefined): string {
  if (usd === null || usd === undefined) return "—";
  return usd < 100 ? `$${usd.toFixed(usd < 1 ? 3 : 2)}` : `$${Math.round(usd)}`;
}

/** A state as a badge whose colour says where it stands. */
export function stateBadge(state: string): SafeHtml {
  return html`<span class="badge state-${state.replace(/[^a-z_]/g, "")}">${state.replaceAll("_", " ")}</span>`;
}
