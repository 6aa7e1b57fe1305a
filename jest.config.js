// Two projects: `unit` (pure code, tests beside it under src/) and `lab`
// (everything that crosses SSH or touches a route; needs root and the lab).
const tsJest = ['ts-jest', { tsconfig: 'tsconfig.json' }];
module.exports = {
  // Lab tests start namespaces and wait on real timers; a project-level testTimeout is ignored by jest.
  testTimeout: 300000,
  projects: [
    {
      displayName: 'unit',
      // *.unit.test.ts under lab/, test/ or bench/: pure tests of lab and benchmark code (no root, no lab).
      testMatch: ['<rootDir>/src/**/*.test.ts', '<rootDir>/esxi/**/*.test.ts', '<rootDir>/{lab,test,bench}/**/*.unit.test.ts'],
      transform: { '^.+\\.ts$': tsJest },
      testEnvironment: 'node',
    },
    {
      displayName: 'lab',
      testMatch: ['<rootDir>/lab/**/*.test.ts', '<rootDir>/test/**/*.test.ts'],
      testPathIgnorePatterns: ['/node_modules/', '\\.unit\\.test\\.ts$'],
      transform: { '^.+\\.ts$': tsJest },
      testEnvironment: 'node',
      globalTeardown: '<rootDir>/lab/jest-global-teardown.ts',
    },
  ],
};
