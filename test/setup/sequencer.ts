/**
 * Longest files first. On a clean clone vitest has no durations cached and starts the largest files
 * first, so a long file that happens to be small (a broker restarted a few times) starts last and
 * the suite ends with one worker idle. These are the files measured longest (clean-clone CI runs,
 * see the README's "Tests"), longest first; the rest follow in vitest's own order.
 */
import { BaseSequencer, type TestSpecification } from 'vitest/node'

const LONGEST = [
  'test/cluster/failover.int.test.ts',
  'test/security/secured.int.test.ts',
  'test/bench/bench.int.test.ts',
  'test/processor/pause.int.test.ts',
  'test/processor/processor.int.test.ts',
  'test/ingest/kafka-outage.int.test.ts',
  'test/dashboards/alertmanager.int.test.ts',
  'test/ingest/share-group-restart.int.test.ts',
  'test/ingest/broker-restart.int.test.ts',
  'test/demo/demo.int.test.ts',
  'test/stack/stack.int.test.ts',
  'test/simulator/mixed-fleet.int.test.ts',
  'test/processor/instances.int.test.ts',
]

export class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files)
    const rank = (file: TestSpecification): number => {
      const at = LONGEST.findIndex((name) => file.moduleId.endsWith(name))
      return at === -1 ? LONGEST.length : at
    }
    // Only within a project and its group: the unit tests still run first.
    const group = (file: TestSpecification): string => `${file.project.config.sequence.groupOrder}:${file.project.name}`
    return sorted
      .map((file, index) => ({ file, index }))
      .sort((a, b) => (group(a.file) === group(b.file) ? rank(a.file) - rank(b.file) || a.index - b.index : a.index - b.index))
      .map(({ file }) => file)
  }
}
