// The reusable client module at its old address: @huddle-go/client, built from client/src.
export * from './client/index.js';
