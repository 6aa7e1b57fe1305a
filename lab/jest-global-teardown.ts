// Placeholder until the lab lands: the lab helper replaces this with a teardown
// of every lab the tests created (by registry), even when tests fail.
export default async function globalTeardown(): Promise<void> {}
