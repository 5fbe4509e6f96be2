import type { Config } from 'jest';

// Every test file starts its own Redis (and some fork processes), so files run one at a time:
// on two cores, parallel files would only trade reliability for a few seconds.
// Tests under __tests__/decorators-legacy compile with experimentalDecorators (tsconfig.legacy.json, by a
// transformer of their own: ts-jest would reuse one tsconfig for every entry); everything else, including
// the modules those tests import, with standard decorators (tsconfig.json).
const config: Config = {
  testEnvironment: 'node',
  roots: ['<rootDir>/__tests__'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '/__tests__/decorators-legacy/.+\\.ts$': '<rootDir>/support/legacy-decorators-transform.js',
    '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.json', diagnostics: { warnOnly: false } }],
  },
  maxWorkers: 1,
  testTimeout: 60_000,
};

export default config;
