/**
 * Where the golden data sets live: a verbatim copy of ../shared/golden in test/golden (so a clean
 * clone tests alone), or any other set built the same way, named by THERMOCLINE_GOLDEN_DIR (a
 * folder holding mqtt.jsonl and the expected-*.json files). Never edit the copy: refresh it.
 */
import { fileURLToPath, pathToFileURL } from 'node:url'

export const GOLDEN_DIR: string = process.env.THERMOCLINE_GOLDEN_DIR ?? fileURLToPath(new URL('../golden/basic/', import.meta.url))

/** The URL of a file of the golden set. */
export function goldenFile(name: string): URL {
  return new URL(name, pathToFileURL(GOLDEN_DIR.endsWith('/') ? GOLDEN_DIR : GOLDEN_DIR + '/'))
}
