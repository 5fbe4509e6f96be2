import type { Config } from 'jest';

// Every test file starts its own Redis (and some fork processes), so files run one at a time:
// on two cores, parallel files would only trade reliability for a few seconds.
const config: Config = {
  testEnvironment: 'node',
  roots: ['<rootDir>/__tests__'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.json', diagnostics: { warnOnly: false } }] },
  maxWorkers: 1,
  testTimeout: 60_000,
};

export default config;
