import type { Severity } from './severity.js';

/** ANSI SGR codes: the severity colours of lint and doctor output, and the plain styles around them. */
export const SEVERITY_COLORS: Readonly<Record<Severity, string>> = { error: '31', warning: '33', info: '36' };
export const BOLD = '1';
export const DIM = '2';
export const GREEN = '32';

/** Wraps text in an SGR code when writing to a terminal; returns it unchanged otherwise. */
export function painter(color: boolean): (code: string, text: string) => string {
  return (code, text) => (color ? `\u001b[${code}m${text}\u001b[0m` : text);
}
