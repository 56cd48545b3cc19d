import type { User } from '../protocol.js';
import type { MeetingEvents } from './events.js';
import type { LocalMedia } from './media.js';

/**
 * What a transport may use of its meeting. The meeting owns the call's lifecycle (start, join,
 * rejoin, leave, host, participants) and the local media; a transport only moves media.
 */
export interface TransportHost {
  /** The meeting's room (null once the call is over). */
  readonly roomId: string | null;
  /** This user's id. */
  readonly me: string;
  readonly media: LocalMedia;
  /** The RTCConfiguration for new peer connections (ICE servers from the session). */
  rtcConfig(): RTCConfiguration;
  /** Send a signaling event of the protocol (e.g. `video-signal`, later `sfu-signal`). */
  send(event: string, data: Record<string, unknown>): void;
  /** Emit one of the meeting's media events. */
  emit<K extends 'remote_stream' | 'remote_left' | 'peer_state'>(type: K, data: MeetingEvents[K]): void;
}

/**
 * MediaTransport carries a meeting's media. MeshTransport (one RTCPeerConnection per other
 * participant, PROTOCOL.md §7) is the one there is; an SFU transport (one connection to the
 * server over `sfu-signal`) implements the same interface, and the meeting picks by mode.
 */
export interface MediaTransport {
  readonly mode: 'mesh' | 'sfu';
  /**
   * This client joined (or rejoined) the meeting; `others` were there before it. In a mesh they
   * offer to the joiner.
   */
  joined(others: User[]): void;
  /**
   * Someone joined after this client (`meeting_user_joined`): in a mesh the receiver offers;
   * on `rejoin` the old connection is discarded first.
   */
  participantJoined(user: User, rejoin: boolean): void;
  /** A participant left. */
  participantLeft(userId: string): void;
  /** A signaling event addressed to this transport, e.g. `video-signal`. */
  signal(event: string, data: unknown): void;
  /** The outgoing video changed (camera ↔ screen, or none): send it on every connection. */
  videoChanged(track: MediaStreamTrack | null): void;
  /** A local track was replaced by another device's. */
  trackReplaced(track: MediaStreamTrack): Promise<void>;
  /** The open peer connections. */
  peerConnections(): RTCPeerConnection[];
  /** Audio level (0..1) of each remote participant, for speaker highlights. */
  audioLevels(): Map<string, number>;
  /** Close every connection. */
  close(): void;
}
