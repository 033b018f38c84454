/**
 * How configuration text may be quoted in a problem or a finding. keepalived.conf holds secrets
 * and is written by people, so a quote is short, shows no control character and never a secret.
 */

/** keepalived keywords whose value is a secret: the VRRP `auth_pass`, an SSL checker's key `password`. */
export const SECRET_KEYWORDS: readonly string[] = ['auth_pass', 'password'];
const SECRET_KEYWORD = new RegExp(`(${SECRET_KEYWORDS.join('|')})`, 'i');
const EXCERPT_CHARS = 60;

/**
 * Configuration text as a finding may quote it: at most `max` characters, control
 * characters escaped (a terminal must not run what a file holds), and anything after a secret
 * keyword masked, so `"auth_pass s3cret` read as one word by unbalanced quotes stays secret.
 */
export function excerpt(text: string, max = EXCERPT_CHARS): string {
  const secret = SECRET_KEYWORD.exec(text);
  const shown = secret ? `${text.slice(0, secret.index + (secret[1] as string).length)}${text.length > secret.index + (secret[1] as string).length ? ' ********' : ''}` : text;
  const cut = shown.length > max ? `${shown.slice(0, max)}…` : shown;
  // eslint-disable-next-line no-control-regex
  return cut.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

