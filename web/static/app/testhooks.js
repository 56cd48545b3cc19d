// window.huddle: the live client and a read-only view of the page's state, for the browser
// tests and for debugging in the console.
import { messagesOf } from './chat.js';
import { app, state } from './state.js';

export function init() {
  const { client, meeting } = app;
  // The tests read the meeting as window.huddle.client.mesh (its peers, tracks and host role),
  // and its ICE policy as window.huddle.client.iceTransportPolicy.
  Object.defineProperty(client, 'mesh', { value: meeting, configurable: true });
  Object.defineProperty(client, 'iceTransportPolicy', { get: () => meeting.iceTransportPolicy, configurable: true });
  window.huddle = {
    client,
    meeting,
    state: {
      get user() { return state.user; },
      get room() { return state.room; },
      get currentRoom() { return state.room; },
      get meetingRoomId() { return meeting.roomId; },
      get isHost() { return meeting.isHost; },
      /** The connection, with `ready` for a live session (client state `open`). */
      get connection() { return client.state === 'open' ? 'ready' : client.state; },
      localTracks: () => meeting.localTracks(),
      peerConnections: () => meeting.peerConnections(),
      messages: (roomId = state.room) => messagesOf(roomId),
      get notices() { return [...state.notices]; },
      get myStatus() { return state.myStatus; },
      get participants() { return [...meeting.participants.keys()]; },
      get copiedLink() { return state.copiedLink ?? null; },
      videoCaps: () => meeting.peerConnections().map((pc) => {
        const s = pc.getSenders().find((x) => x.track?.kind === 'video');
        const e = s?.getParameters().encodings?.[0];
        return e ? { maxBitrate: e.maxBitrate ?? null, scale: e.scaleResolutionDownBy ?? 1 } : null;
      }),
    },
  };
}
