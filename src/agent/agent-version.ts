import { RerouteError } from '../errors/reroute-error';

/** `reroute_version=X.Y.Z` must be exactly line 2: the probe and the seed tooling both read it there. */
const VERSION_LINE = /^reroute_version=([0-9]+\.[0-9]+\.[0-9]+(?:[-+][0-9A-Za-z.-]+)?)$/;

/** The version written on line 2 of an agent script, or undefined when line 2 is not a version line. */
export function scriptVersion(script: string): string | undefined {
  const line2 = script.split('\n')[1];
  if (line2 === undefined) return undefined;
  const m = VERSION_LINE.exec(line2.replace(/\r$/, ''));
  return m ? m[1] : undefined;
}

/** Like scriptVersion, but a shipped script without a version line is a broken release: refuse it. */
export function requireScriptVersion(script: string, file: string): string {
  const v = scriptVersion(script);
  if (v === undefined) {
    throw new RerouteError(
      'INTERNAL',
      `${file} has no \`reroute_version=X.Y.Z\` on line 2`,
      'The agent bundle of this release is broken; reinstall zbs-reroute or restore esxi/agent/ from git.',
      { details: { file } },
    );
  }
  return v;
}
