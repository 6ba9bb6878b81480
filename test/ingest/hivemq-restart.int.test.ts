/** test/ingest/broker-restart.ts on HiveMQ Community Edition. */
import { describeBrokerRestart } from './broker-restart.ts'

describeBrokerRestart('hivemq')
