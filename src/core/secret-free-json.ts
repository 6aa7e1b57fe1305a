import { RerouteError } from '../errors/reroute-error';

// Every JSON the tool writes for others to read (--json, plan --out, snapshots) goes
// through secretFreeJson: one walk over its strings, so a leak fails loudly in one place.

/** Text that must never be printed, logged or saved in a plan: private key material. */
export const SECRET_PATTERN = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----|PRIVATE KEY-----/;

export function looksSecret(text: string): boolean {
  return SECRET_PATTERN.test(text);
}

/**
 * Plans carry no secrets by design (the private key is a contentRef). This
 * walks every string anyway, so a future change that leaks one fails loudly
 * instead of writing key bytes into a plan file or a terminal.
 */
export function assertNoSecrets(value: unknown, where = 'plan'): void {
  const walk = (v: unknown, path: string): void => {
    if (typeof v === 'string') {
      if (looksSecret(v)) {
        throw new RerouteError(
          'INTERNAL',
          `Refusing to output the ${where}: ${path} holds private key material`,
          'This is a bug in zbs-reroute (secrets must stay in the state folder); please report it without attaching the plan.',
        );
      }
    } else if (Array.isArray(v)) v.forEach((x, i) => walk(x, `${path}[${i}]`));
    else if (v !== null && typeof v === 'object') for (const [k, x] of Object.entries(v)) walk(x, `${path}.${k}`);
  };
  walk(value, where);
}

/** `value` as JSON text (with a trailing newline when indented), after assertNoSecrets. */
export function secretFreeJson(value: unknown, where: string, indent?: number): string {
  assertNoSecrets(value, where);
  const text = JSON.stringify(value ?? null, null, indent);
  return indent === undefined ? text : `${text}\n`;
}
