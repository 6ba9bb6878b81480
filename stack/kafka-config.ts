/** The files a local Kafka broker runs with: server.properties (listeners, KRaft, TLS and SASL) and its log4j configuration. */
import { KAFKA_SERVICE_USERS } from './access.ts'
import { STACK_USER, type Credentials } from './credentials.ts'

/** Kafka 4 logs through log4j2; 3.x through reload4j (log4j 1 API). */
export const usesLog4j2 = (version: string): boolean => !version.startsWith('3.')

export interface KafkaBrokerSettings {
  home: string
  /** Apache Kafka release (KAFKA_VERSION). */
  version: string
  host: string
  port: number
  controllerPort: number
  heap: string
  partitions: number
  startTimeoutMs: number
  /** Set for the secured stack: `port` is then a SASL_SSL listener (SCRAM and PLAIN). */
  tls?: KafkaTlsListeners
  /**
   * How late the broker's heartbeat to its own controller may be before the controller fences it
   * (default: LOCAL_BROKER_SESSION_MS). A restart after a crash waits out the old session.
   */
  brokerSessionMs?: number
  /** Set for a member of a cluster; a node alone is node 1 of a quorum of one. */
  member?: ClusterMember
}

export interface ClusterMember {
  /** node.id, 1 to the size of the cluster. */
  id: number
  /** controller.quorum.voters: every node, as `id@host:controllerPort`. */
  voters: string
  /** How many nodes the cluster has: internal topics get min(3, size) replicas. */
  size: number
  /** The KRaft cluster id every node's storage is formatted with. */
  clusterId: string
}

/** Replication of a cluster of `size` nodes: 3 replicas (or all there are), writes need 2 of them in sync. */
export function clusterReplication(size: number): { replicas: number; minInsync: number } {
  const replicas = Math.min(3, size)
  return { replicas, minInsync: replicas >= 3 ? 2 : 1 }
}

export interface KafkaTlsListeners {
  /** A TLS listener that requires a client certificate; brokers also talk to each other over it. */
  mtlsPort: number
  credentials: Credentials
}

/**
 * Kafka's default is 9 s. On one node the broker and its controller share a JVM, and a JVM starved of
 * CPU (both cores busy: a laptop building, a shared CI machine) missed 9 s often: 17 times in 12
 * minutes here under the test suite beside two busy loops, each time fencing itself — every partition
 * without a leader, coordinators reloading, transactions failing. 30 s rides that out; the price is
 * that a broker restarted after a crash waits up to 30 s for its old registration to expire.
 */
const LOCAL_BROKER_SESSION_MS = 30_000

export interface KafkaPaths {
  libs: string
  dir: string
  data: string
  properties: string
  log4j: string
  /** The release the running broker was started from. */
  versionFile: string
  serverLog: string
  stdoutLog: string
  pidFile: string
}

/** The listener lines: one PLAINTEXT listener, or (secured) SASL_SSL for clients and mutual TLS. */
function listeners(settings: KafkaBrokerSettings): string {
  const { host, port, controllerPort, tls } = settings
  if (tls === undefined) {
    return `listeners=PLAINTEXT://${host}:${port},CONTROLLER://${host}:${controllerPort}
advertised.listeners=PLAINTEXT://${host}:${port}
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
`
  }
  const { credentials, mtlsPort } = tls
  const scram = 'org.apache.kafka.common.security.scram.ScramLoginModule required;'
  const plainUsers = kafkaUsers(credentials)
    .map(({ user, password }) => `user_${user}="${password}"`)
    .join(' ')
  return `# Secured (thermocline stack up --secure): clients use SASL_SSL (SCRAM users made at storage
# format time, or PLAIN) or mutual TLS (the certificate's CN is the user); the node talks to itself
# (broker to controller) over mutual TLS as the super user CN=localhost. The controller listener is
# on loopback only.
listeners=SASL_SSL://${host}:${port},SSL://${host}:${mtlsPort},CONTROLLER://${host}:${controllerPort}
advertised.listeners=SASL_SSL://${host}:${port},SSL://${host}:${mtlsPort}
inter.broker.listener.name=SSL
listener.security.protocol.map=SASL_SSL:SASL_SSL,SSL:SSL,CONTROLLER:SSL
ssl.keystore.type=PKCS12
ssl.keystore.location=${credentials.keystoreFile}
ssl.keystore.password=${credentials.keystorePassword}
ssl.truststore.type=PEM
ssl.truststore.location=${credentials.caFile}
listener.name.ssl.ssl.client.auth=required
listener.name.controller.ssl.client.auth=required
ssl.principal.mapping.rules=RULE:^CN=([^,]+)$/$1/,DEFAULT
sasl.enabled.mechanisms=SCRAM-SHA-512,SCRAM-SHA-256,PLAIN
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=${scram}
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=${scram}
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required ${plainUsers};
# Who may do what: nothing where no ACL allows it (stack/access.ts makes the ACLs of each service's
# user). The administrator and the node itself are super users.
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:${STACK_USER};User:localhost
`
}

/** Every SASL user of the secured broker, the administrator first. */
export function kafkaUsers(credentials: Credentials): Array<{ user: string; password: string }> {
  return [{ user: STACK_USER, password: credentials.kafkaPassword }, ...KAFKA_SERVICE_USERS.map((user) => credentials.kafkaUsers[user])]
}

export function serverProperties(settings: KafkaBrokerSettings, paths: KafkaPaths): string {
  const { host, controllerPort, member } = settings
  const { replicas, minInsync } = clusterReplication(member?.size ?? 1)
  const replication =
    member === undefined
      ? '# One node: every internal topic has one replica, and transactions need an ISR of one.'
      : `# Node ${member.id} of a cluster of ${member.size}: topics get ${replicas} replicas, and a write needs ${minInsync} of them.`
  return `# Written by thermocline stack up; edits are overwritten.
process.roles=broker,controller
node.id=${member?.id ?? 1}
controller.quorum.voters=${member?.voters ?? `1@${host}:${controllerPort}`}
${listeners(settings)}controller.listener.names=CONTROLLER
log.dirs=${paths.data}
num.partitions=${settings.partitions}
${replication}
offsets.topic.replication.factor=${replicas}
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=${replicas}
transaction.state.log.min.isr=${minInsync}
transaction.state.log.num.partitions=10
min.insync.replicas=${minInsync}
default.replication.factor=${replicas}
# Consumer groups form at once instead of waiting 3 s for more members.
group.initial.rebalance.delay.ms=0
# See LOCAL_BROKER_SESSION_MS in stack/kafka-broker.ts.
broker.session.timeout.ms=${settings.brokerSessionMs ?? LOCAL_BROKER_SESSION_MS}
auto.create.topics.enable=true
delete.topic.enable=true
log.retention.hours=168
`
}

export function log4jProperties(version: string, paths: KafkaPaths): string {
  if (usesLog4j2(version)) {
    return `status = warn
appender.file.type = RollingFile
appender.file.name = file
appender.file.fileName = ${paths.serverLog}
appender.file.filePattern = ${paths.serverLog}.%i
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
appender.file.policies.type = Policies
appender.file.policies.size.type = SizeBasedTriggeringPolicy
appender.file.policies.size.size = 20MB
appender.file.strategy.type = DefaultRolloverStrategy
appender.file.strategy.max = 2
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.controller.name = org.apache.kafka.controller
logger.controller.level = INFO
logger.state.name = state.change.logger
logger.state.level = WARN
`
  }
  return `log4j.rootLogger=INFO, file
log4j.appender.file=org.apache.log4j.RollingFileAppender
log4j.appender.file.File=${paths.serverLog}
log4j.appender.file.MaxFileSize=20MB
log4j.appender.file.MaxBackupIndex=2
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.org.apache.kafka.controller=INFO
log4j.logger.state.change.logger=WARN
`
}
