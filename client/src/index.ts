// @huddle-go/client: a typed client for Huddle's wire protocol (docs/PROTOCOL.md).
export { HuddleClient } from './client.js';
export type {
  ClientOptions,
  ConnectionState,
  Credentials,
  HuddleEvents,
  LocalEvents,
  RequestOptions,
  WebSocketConstructor,
  WebSocketLike,
} from './client.js';
export { Emitter } from './emitter.js';
export type { Listener } from './emitter.js';
export { HuddleError } from './errors.js';
export type { ErrorCode, LocalErrorCode } from './errors.js';
export type { ResyncReport } from './resync.js';
export { MemoryStorage } from './storage.js';
export type { ResumeStorage } from './storage.js';
export { uuid } from './util.js';
export type * from './protocol.js';

export { Meeting } from './meeting/meeting.js';
export type { JoinOptions, MeetingOptions, StartOptions } from './meeting/meeting.js';
export type { CloseReason, MeetingEvents } from './meeting/events.js';
export { LocalMedia } from './meeting/media.js';
export { MeshTransport } from './meeting/mesh.js';
export type { MeshPeer } from './meeting/mesh.js';
export type { MediaTransport, TransportHost } from './meeting/transport.js';
export { videoCap } from './meeting/caps.js';
export type { VideoCap } from './meeting/caps.js';
