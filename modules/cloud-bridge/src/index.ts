export { type Env, EnvSchema, type SinksSwitch, SinksSwitchSchema, databaseFile, defaultDtdlDir } from './config.js';
export { credentialFromEnv } from './credentials.js';
export {
  MAX_ERROR_MESSAGE,
  type Order,
  OrderSchema,
  type StatusError,
  StatusErrorSchema,
  type StatusEvent,
  StatusEventSchema,
  type StatusEventType,
  lifecycleTypes,
  statusEventTypes,
} from './domain/contracts.js';
export {
  MODEL_IDS,
  type RelationshipSpec,
  type TwinSpec,
  propertiesFor,
  runTwinId,
  structureFor,
  twinId,
} from './domain/twin-model.js';
export { CloudBridge, type CloudBridgeHealth, type CloudBridgeOptions } from './edge/cloud-bridge.js';
export { CloudBridgeError, type CloudBridgeErrorCode, errorCatalog } from './errors.js';
export { OrderReceiver, type OrderReceiverHealth, type OrderReceiverOptions } from './orders/order-receiver.js';
export { type DigitalTwinsApi, DigitalTwinsSink, type DigitalTwinsSinkOptions } from './sinks/digital-twins.js';
export { statusOf, translateSinkError } from './sinks/errors.js';
export { EventGridSink, toCloudEvent } from './sinks/event-grid.js';
export { ServiceBusSink, toServiceBusMessage } from './sinks/service-bus.js';
export type { Sink, SinkName } from './sinks/sink.js';
export { SinkChannel, type SinkChannelOptions, type SinkHealth } from './sinks/sink-channel.js';
