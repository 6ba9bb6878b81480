import { describe, expect, it } from 'vitest'
import { Teardown } from '../../demo/teardown.ts'

describe('Teardown', () => {
  it('stops the parts in the reverse order of their start, each once, and goes on past a failing one', async () => {
    const stopped: string[] = []
    const teardown = new Teardown()
    for (const name of ['stack', 'processor', 'ingest', 'simulator']) {
      teardown.push(name, async () => {
        stopped.push(name)
        if (name === 'ingest') throw new Error('ingest would not stop')
        return 0
      })
    }
    const results = await teardown.unwind()
    expect(stopped).toEqual(['simulator', 'ingest', 'processor', 'stack'])
    expect(results.map(({ name, failed }) => [name, failed])).toEqual([
      ['simulator', false],
      ['ingest', true],
      ['processor', false],
      ['stack', false],
    ])
    expect(await teardown.unwind()).toEqual([])
  })
})
