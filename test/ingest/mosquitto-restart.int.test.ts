/** test/ingest/broker-restart.ts on Mosquitto. */
import { describeBrokerRestart } from './broker-restart.ts'

describeBrokerRestart('mosquitto')
