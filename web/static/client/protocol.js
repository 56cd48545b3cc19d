// Types of Huddle's wire protocol, version 1 (docs/PROTOCOL.md): every event a client sends
// (ClientEvents) and every event the server sends (ServerEvents), keyed by event name.
// Servers may add fields and events (PROTOCOL.md §10): clients ignore what they do not know.
export {};
