/**
 * Helpers for lab self-tests: unique lab names per test file and process, and
 * a describe that skips (with a reason) when not root.
 */
export const IS_ROOT = process.getuid?.() === 0;

/** Lab names must be short (namespace names) and unique across concurrent jest runs. */
export function testLabName(tag: string): string {
  return `t${process.pid % 100000}-${tag}`.slice(0, 24);
}

export const describeIfRoot: jest.Describe = IS_ROOT ? describe : describe.skip;
