import { defineConfig } from 'vitest/config'
import { LongestFirst } from './test/setup/sequencer.ts'

// Two projects: `unit` never touches the network; `integration` runs against a real Kafka and
// Mosquitto, which test/setup/stack.ts brings up when they are not running (and stops afterwards).
export default defineConfig({
  test: {
    // The longest integration files start first (test/setup/sequencer.ts).
    sequence: { sequencer: LongestFirst },
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/**/*.test.ts'],
          exclude: ['test/**/*.int.test.ts'],
          // Unit tests run first, so a broken build fails in seconds, before any broker starts.
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/**/*.int.test.ts'],
          globalSetup: ['test/setup/stack.ts'],
          sequence: { groupOrder: 1 },
          testTimeout: 120_000,
          hookTimeout: 120_000,
          // Two cores: more parallel files only make brokers and tests fight for CPU.
          maxWorkers: 2,
        },
      },
    ],
  },
})
