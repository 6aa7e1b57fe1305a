/**
 * Helpers for lab self-tests: unique lab names per test file and process. (Whether a suite runs
 * without root is test/support/describe-lab.ts's decision.) No jest globals here: this file is
 * part of the build (tsconfig.build.json excludes only *.test.ts).
 */

/** Lab names must be short (namespace names) and unique across concurrent jest runs. */
export function testLabName(tag: string): string {
  return `t${process.pid % 100000}-${tag}`.slice(0, 24);
}
