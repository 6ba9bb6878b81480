/**
 * Who may see and change what on the secured stack (docs/contract.md, "Who may see and change what"):
 * one user per service with the least it needs, the same table rendered three ways — the ACLs the
 * stack creates in Kafka, the `kafka-acls.sh` commands docs/deployment.md gives for a cluster of
 * one's own, and Mosquitto's ACL file.
 *
 * Kafka (StandardAuthorizer, no access where no ACL allows it):
 * - `ingest` creates, describes and writes the readings and dead-letter topics.
 * - `processor` reads the readings topic in its group, creates and writes control-panel, late and
 *   dead-letter topics (and creates the readings topic too: whichever of ingest and processor starts
 *   first makes it), and uses its transactional ids (`{group}.{topic}.{partition}`: a prefix).
 * - `panel` reads control-panel and, for tracing, the readings and late topics, in groups of its own
 *   (`thermocline-panel-…` and `thermocline-trace-…`, prefixes), which it deletes when it stops.
 * - `thermocline`, the administrator: a super user, for tools and topic administration; no service uses it.
 *
 * MQTT (Mosquitto's acl_file): `ingest` may only read (subscribe to) the readings topics; `simulator`
 * may only publish under them (a whole fleet); a device's own account may publish only as itself
 * (`pattern write {root}/+/%u/temperature`); `thermocline` may do anything.
 */
import kafkajs, { type Admin, type AclEntry } from 'kafkajs'
import { readingTopicFilters } from '../simulator/device-formats.ts'

/** The administrator: a super user of Kafka, every topic of Mosquitto. Used by no service. */
export const ADMIN_USER = 'thermocline'

/** The Kafka users, one per service that talks to Kafka. */
export const KAFKA_SERVICE_USERS = ['ingest', 'processor', 'panel'] as const
export type KafkaServiceUser = (typeof KAFKA_SERVICE_USERS)[number]

/** The MQTT users: the bridge, and the device account the simulator plays its fleet with. */
export const MQTT_SERVICE_USERS = ['ingest', 'simulator'] as const
export type MqttServiceUser = (typeof MQTT_SERVICE_USERS)[number]

/** The group prefixes of the panel's readers (panel/command.ts, trace/scan.ts, the demo's table). */
const PANEL_GROUP_PREFIXES = ['thermocline-panel-', 'thermocline-trace-'] as const

/** The names the ACLs are about: the services' topic and group settings, and the MQTT topic root. */
export interface AccessNames {
  readingsTopic: string
  dlqTopic: string
  lateTopic: string
  controlPanelTopic: string
  /** The processor's GROUP_ID, also the prefix of its transactional ids. */
  groupId: string
  /** TOPIC_ROOT: the first level of the native readings topics. */
  topicRoot: string
}

// Node's ESM import finds only some of kafkajs' CommonJS exports by name: these enums come from its default export.
const { AclOperationTypes, AclPermissionTypes, AclResourceTypes, ResourcePatternTypes } = kafkajs

type Operation = 'READ' | 'WRITE' | 'CREATE' | 'DESCRIBE' | 'DELETE'
type Resource = 'topic' | 'group' | 'transactional-id'

/** One line of the table: `user` may do `operations` on the resource `name` (or every one whose name starts with it). */
export interface Grant {
  user: KafkaServiceUser
  resource: Resource
  name: string
  prefixed: boolean
  operations: Operation[]
}

export function kafkaGrants(names: AccessNames): Grant[] {
  const topic = (user: KafkaServiceUser, name: string, operations: Operation[]): Grant => ({ user, resource: 'topic', name, prefixed: false, operations })
  const produced: Operation[] = ['CREATE', 'DESCRIBE', 'WRITE']
  const read: Operation[] = ['DESCRIBE', 'READ']
  return [
    topic('ingest', names.readingsTopic, produced),
    topic('ingest', names.dlqTopic, produced),
    topic('processor', names.readingsTopic, ['CREATE', ...read]),
    topic('processor', names.controlPanelTopic, produced),
    topic('processor', names.lateTopic, produced),
    topic('processor', names.dlqTopic, produced),
    { user: 'processor', resource: 'group', name: names.groupId, prefixed: false, operations: read },
    { user: 'processor', resource: 'transactional-id', name: `${names.groupId}.`, prefixed: true, operations: ['DESCRIBE', 'WRITE'] },
    topic('panel', names.controlPanelTopic, read),
    topic('panel', names.readingsTopic, read),
    topic('panel', names.lateTopic, read),
    ...PANEL_GROUP_PREFIXES.map((prefix): Grant => ({ user: 'panel', resource: 'group', name: prefix, prefixed: true, operations: ['DELETE', ...read] })),
  ]
}

const RESOURCE_TYPES: Record<Resource, kafkajs.AclResourceTypes> = { topic: AclResourceTypes.TOPIC, group: AclResourceTypes.GROUP, 'transactional-id': AclResourceTypes.TRANSACTIONAL_ID }

/** The grants as Kafka ACL bindings (allow, from any host). */
function aclEntries(grants: Grant[]): AclEntry[] {
  return grants.flatMap((grant) =>
    grant.operations.map((operation) => ({
      principal: `User:${grant.user}`,
      host: '*',
      operation: AclOperationTypes[operation],
      permissionType: AclPermissionTypes.ALLOW,
      resourceType: RESOURCE_TYPES[grant.resource],
      resourceName: grant.name,
      resourcePatternType: grant.prefixed ? ResourcePatternTypes.PREFIXED : ResourcePatternTypes.LITERAL,
    })),
  )
}

/** Creates the ACLs of `names` (as the administrator); ACLs already there are left as they are. */
export async function createKafkaAcls(admin: Admin, names: AccessNames): Promise<number> {
  const acl = aclEntries(kafkaGrants(names))
  await admin.createAcls({ acl })
  return acl.length
}

/** The same grants as `kafka-acls.sh` commands, one a grant, for a cluster of one's own. */
export function kafkaAclsCommands(names: AccessNames, admin = '--bootstrap-server "$BROKERS" --command-config admin.properties'): string[] {
  return kafkaGrants(names).map((grant) =>
    [
      `kafka-acls.sh ${admin} --add --allow-principal User:${grant.user}`,
      ...grant.operations.map((operation) => `--operation ${operation[0]}${operation.slice(1).toLowerCase()}`),
      `--${grant.resource} ${grant.name}`,
      ...(grant.prefixed ? ['--resource-pattern-type prefixed'] : []),
    ].join(' '),
  )
}

/** What one MQTT user may do: `read` (subscribe and be sent), `write` (publish), both, or `deny` (neither) on a filter. */
export interface MqttUserAccess {
  user: string
  /** Why, for the file's reader. */
  comment: string
  lines: Array<{ activity: 'read' | 'write' | 'readwrite' | 'deny'; filter: string }>
}

/** The MQTT side of the table: the stack's users, and the pattern that keeps a device account to its own topic. */
export interface MqttAccess {
  users: MqttUserAccess[]
  /** Mosquitto's `pattern write` filter, `%u` standing for the user. */
  devicePattern: string
}

/**
 * The MQTT users' access. Mosquitto applies `pattern` lines to every user, the bridge's too: its
 * `deny` of the one topic the device pattern would give it keeps it read-only (a device named like
 * the bridge's user is then read by nobody).
 */
export function mqttAccess(names: AccessNames, defaultTopicRoot: string): MqttAccess {
  const readings = readingTopicFilters(names.topicRoot, defaultTopicRoot)
  return {
    users: [
      {
        user: ADMIN_USER,
        comment: 'The administrator (tools, never a service).',
        lines: [
          { activity: 'readwrite', filter: '#' },
          { activity: 'read', filter: '$SYS/#' },
        ],
      },
      {
        user: 'ingest',
        comment: 'The bridge: subscribes to the readings topics (also through its share group), publishes nothing.',
        lines: [
          ...readings.map((filter) => ({ activity: 'read' as const, filter })),
          { activity: 'read', filter: '$SYS/broker/version' },
          { activity: 'deny', filter: `${names.topicRoot}/+/ingest/temperature` },
        ],
      },
      {
        user: 'simulator',
        comment: 'The simulator plays a whole fleet: it publishes under every readings topic, reads nothing.',
        lines: readings.map((filter) => ({ activity: 'write' as const, filter })),
      },
    ],
    devicePattern: `${names.topicRoot}/+/%u/temperature`,
  }
}

/** Mosquitto's acl_file of `access`. */
export function mosquittoAclFile(access: MqttAccess): string {
  const users = access.users.map(({ user, comment, lines }) => `# ${comment}\nuser ${user}\n${lines.map(({ activity, filter }) => `topic ${activity} ${filter}`).join('\n')}\n\n`)
  return `# Written by thermocline stack up --secure; edits are overwritten. Who may do what (docs/deployment.md).
${users.join('')}# One account per device (mosquitto_passwd adds one): a device publishes only as itself.
pattern write ${access.devicePattern}
`
}

/**
 * The access file of the stack's HiveMQ launcher (stack/hivemq/HiveMQLauncher.java): each user with
 * its password file and what it may do (`allow subscribe|publish|all <filter>`). HiveMQ CE has no
 * device pattern and no `$SYS` topics; a `deny` needs no line there, since what is not allowed is
 * denied. Without `access`, every user may do anything (as before topic permissions).
 */
export function hivemqAccessFile(access: MqttAccess | undefined, users: Array<{ user: string; passwordFile: string }>): string {
  const ACTIVITIES = { read: 'subscribe', write: 'publish', readwrite: 'all' } as const
  return users
    .map(({ user, passwordFile }) => {
      const lines = access === undefined ? [{ activity: 'readwrite' as const, filter: '#' }] : (access.users.find((candidate) => candidate.user === user)?.lines ?? [])
      const allowed = lines.flatMap(({ activity, filter }) => (activity === 'deny' || filter.startsWith('$SYS') ? [] : [`allow ${ACTIVITIES[activity]} ${filter}`]))
      return [`user ${user} ${passwordFile}`, ...allowed].join('\n') + '\n'
    })
    .join('')
}
