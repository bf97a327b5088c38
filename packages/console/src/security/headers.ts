// The headers every console response carries: a Content-Security-Policy without 'unsafe-inline'
// (the one inline script, index.html's import map, is allowed by its hash), no framing (Cancel
// and Delete cannot be clickjacked), no Referer leaving the console, no content sniffing.

import { createHash } from 'node:crypto';

/**
 * The Content-Security-Policy for pages whose HTML is `indexHtml`: everything from the console's
 * own origin, inline scripts only by hash, no inline styles (Preact's `style` props set CSSOM
 * properties, which CSP does not govern), no frames, no plugins, forms only to itself.
 *
 * @example
 * contentSecurityPolicy('<script type="importmap">{}</script>');
 * // "default-src 'none'; script-src 'self' 'sha256-…'; style-src 'self'; … frame-ancestors 'none'"
 */
export function contentSecurityPolicy(indexHtml: string): string {
  const hashes = [...indexHtml.matchAll(/<script(?![^>]*\bsrc=)[^>]*>([\s\S]*?)<\/script>/g)].map(
    ([, body]) => `'sha256-${createHash('sha256').update(body!, 'utf8').digest('base64')}'`,
  );
  return [
    "default-src 'none'",
    `script-src 'self' ${hashes.join(' ')}`.trim(),
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/** The security headers of every answer, given the page's Content-Security-Policy. */
export function securityHeaders(csp: string): Readonly<Record<string, string>> {
  return {
    'Content-Security-Policy': csp,
    'X-Frame-Options': 'DENY',
    'Referrer-Policy': 'no-referrer',
    'X-Content-Type-Options': 'nosniff',
    'Cross-Origin-Opener-Policy': 'same-origin',
    'Cross-Origin-Resource-Policy': 'same-origin',
  };
}

/** The headers of answers written before the app runs (Node's parser refused the request): no page, so nothing may load. */
export const BARE_SECURITY_HEADERS = securityHeaders("default-src 'none'; frame-ancestors 'none'");
