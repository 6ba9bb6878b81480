#!/usr/bin/env node
// Runs the TypeScript sources directly: tsx compiles each module once on load, so a checkout
// needs no build step (`npm ci` then `npx thermocline ...`).
import { register } from 'tsx/esm/api'

register()
const { main } = await import('../cli/main.ts')
process.exitCode = await main(process.argv.slice(2))
