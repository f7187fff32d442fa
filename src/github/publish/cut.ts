/** Cuts text to GitHub's limit, saying where the whole of it is. */
export function cut(text: string, limit: number, whole: string): string {
  if (text.length <= limit) return text;
  const note = `\n\n…cut here to fit GitHub's limit; the whole text is ${whole}.`;
  return text.slice(0, limit - note.length) + note;
}
