/**
 * Helpers for lab self-tests: unique lab names per test file and process, and
 * whether we are root (lab tests skip otherwise). No jest globals here: this
 * file is part of the build (tsconfig.build.json excludes only *.test.ts).
 */
export const IS_ROOT = process.getuid?.() === 0;

/** Lab names must be short (namespace names) and unique across concurrent jest runs. */
export function testLabName(tag: string): string {
  return `t${process.pid % 100000}-${tag}`.slice(0, 24);
}

type DescribeFn = (name: string, fn: () => void) => void;

/**
 * `describe` when root, `describe.skip` otherwise. Looked up on globalThis at
 * call time (not typed via jest's globals), so this file stays buildable.
 */
export const describeIfRoot: DescribeFn = (name, fn) => {
  const g = globalThis as unknown as { describe: DescribeFn & { skip: DescribeFn } };
  (IS_ROOT ? g.describe : g.describe.skip)(name, fn);
};
