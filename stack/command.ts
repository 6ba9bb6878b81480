import { type Command } from '../common/command.ts'
import { formatHelp, parseArgs } from '../common/config.ts'
import { ConfigError } from '../common/errors.ts'
import { createLogger } from '../common/logger.ts'
import { shellWord } from './layout.ts'
import { stackDown, stackUp } from './stack.ts'
import { stackOptions } from './options.ts'
import { stackStatus, type StackStatus } from './status.ts'

const USAGE = 'thermocline stack up|down|status [options]'
const SUMMARY = `A local Kafka (KRaft, from Apache Kafka's jars) and MQTT broker (Mosquitto, or with --mqtt hivemq
HiveMQ Community Edition from Maven Central) for the demo and tests.
  up      start what is not already answering (Kafka jars are fetched with Maven on first use)
  down    stop what \`stack up\` started; brokers it found running are left alone
  status  report each part (--json: as JSON); exits 1 when one is down
With --brokers 3, the same for a local Kafka cluster of three KRaft nodes (127.0.0.1:29091-29093,
beside the one-broker stack): topics get replication 3 and min.insync.replicas 2. \`up\` also
restarts a node that has stopped; the services reach it with
KAFKA_BROKERS=127.0.0.1:29091,127.0.0.1:29092,127.0.0.1:29093.
With --secure, the same for the secured stack (beside the plain one, on its own ports): Kafka with
SASL_SSL (SCRAM) and mutual TLS, the MQTT broker with TLS and a password, certificates made with openssl.
Each service has a user of its own, allowed only what it needs (Kafka ACLs for the topic and group
names below, Mosquitto's acl_file); \`up\` writes their settings to THERMOCLINE_HOME/secure/{ingest,
processor,panel,simulator}.env, and the administrator's to THERMOCLINE_HOME/secure/thermocline.env.`

export const stackCommand: Command = {
  async run(argv) {
    const { config, positionals, help } = parseArgs(stackOptions, argv)
    if (help) {
      process.stdout.write(formatHelp(USAGE, SUMMARY, stackOptions))
      return 0
    }
    const [action, ...extra] = positionals
    if (action === undefined) {
      // No action at all: show what there is to do, as for --help, but as a usage error.
      process.stderr.write(formatHelp(USAGE, SUMMARY, stackOptions))
      return 2
    }
    if (extra.length > 0 || !['up', 'down', 'status'].includes(action ?? '')) {
      throw new ConfigError('action', `expected up, down or status (got ${JSON.stringify(positionals.join(' '))})`)
    }
    const logger = createLogger('stack')
    if (action === 'up') {
      const started = Date.now()
      const result = await stackUp(config, logger)
      const status = await stackStatus(config)
      const fetched = result.kafkaFetchSeconds > 0 ? ` (of which ${result.kafkaFetchSeconds.toFixed(1)} s fetching Kafka jars)` : ''
      process.stdout.write(`stack up in ${((Date.now() - started) / 1000).toFixed(1)} s${fetched}\n${formatStatus(status)}`)
      if (config.brokers > 1) process.stdout.write(`the services reach it with KAFKA_BROKERS=${result.clientEnv.KAFKA_BROKERS}\n`)
      if (result.envFile !== undefined && result.serviceEnvFiles !== undefined) {
        const files = result.serviceEnvFiles
        process.stdout.write(
          `settings for the services, each as its own user (${result.acls} ACLs): ${Object.values(files).map(shellWord).join(' ')}\n` +
            `  run a service with its own:  (set -a; . ${shellWord(files.processor)}; exec thermocline process)\n` +
            `the administrator (tools and topic administration, no service): ${shellWord(result.envFile)}\n`,
        )
      }
      return 0
    }
    if (action === 'down') {
      const stopped = await stackDown(config)
      const what = [stopped.kafka && 'Kafka', stopped.mqtt && (stopped.mqttName ?? 'the MQTT broker')].filter(Boolean)
      process.stdout.write(what.length > 0 ? `stopped ${what.join(' and ')}\n` : 'nothing to stop: no broker started by thermocline is running\n')
      return 0
    }
    const status = await stackStatus(config)
    process.stdout.write(config.json ? `${JSON.stringify(statusJson(status))}\n` : formatStatus(status))
    return status.kafka.state === 'down' || status.mqtt.state === 'down' ? 1 : 0
  },
}

function formatStatus(status: StackStatus): string {
  const line = (name: string, part: StackStatus['kafka']): string => `${name.padEnd(6)} ${(part.state === 'down' ? 'DOWN' : 'up').padEnd(5)} ${part.address.padEnd(16)} ${part.detail}\n`
  const brokers =
    status.brokers.length > 1
      ? status.brokers.map((broker) => `  node ${broker.id} ${(broker.up ? 'up' : 'DOWN').padEnd(5)} ${broker.host}:${broker.port}${broker.pid === null ? '' : ` pid ${broker.pid}`}\n`).join('')
      : ''
  return line('kafka', status.kafka) + brokers + line('mqtt', status.mqtt)
}

/** `status --json` (docs/contract.md, "Running on several brokers"): pid null for a broker this stack did not start. */
function statusJson(status: StackStatus): unknown {
  const [host, port] = status.mqtt.address.split(':') as [string, string]
  return {
    kafka: { brokers: status.brokers.map(({ id, host, port, pid, up }) => ({ id, host, port, pid, up })) },
    mqtt: { host, port: Number(port), pid: status.mqtt.pid ?? null, up: status.mqtt.state !== 'down', broker: status.mqtt.broker ?? null },
  }
}
