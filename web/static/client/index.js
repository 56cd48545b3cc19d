// @huddle-go/client: a typed client for Huddle's wire protocol (docs/PROTOCOL.md).
export { HuddleClient } from './client.js';
export { Emitter } from './emitter.js';
export { HuddleError } from './errors.js';
export { MemoryStorage } from './storage.js';
export { uuid } from './util.js';
export { Meeting } from './meeting/meeting.js';
export { LocalMedia } from './meeting/media.js';
export { MeshTransport } from './meeting/mesh.js';
export { videoCap } from './meeting/caps.js';
