import type { Participant, User } from '../protocol.js';

/** Why a call ended for this client. */
export type CloseReason =
  /** leave() */
  | 'left'
  /** stop(): this client ended it for everyone */
  | 'stopped'
  /** the meeting ended (`meeting_ended`, or an inactive invitation) */
  | 'ended'
  /** a rejoin found no active meeting any more */
  | 'not_found'
  /** the client was closed */
  | 'disconnected'
  /** start or join failed */
  | 'failed'
  /** close() */
  | 'closed'
  | (string & {});

/** Events of a Meeting. */
export interface MeetingEvents {
  /** The local preview (video only, so it never echoes), null when there is none. */
  local_stream: { stream: MediaStream | null };
  /** A remote participant's media; a new MediaStream whenever its tracks change. */
  remote_stream: { userId: string; user: User; stream: MediaStream };
  /** The media connection to a participant closed (it left, or the connection was replaced). */
  remote_left: { userId: string };
  /** A participant's connection state (RTCPeerConnectionState). */
  peer_state: { userId: string; state: RTCPeerConnectionState };
  /** The camera or microphone could not be opened: the call goes on with less. */
  media_error: { name: string; message: string; receiveOnly: boolean };
  /** This user became, or stopped being, the meeting's host. */
  host: { roomId: string | null; isHost: boolean };
  /**
   * Someone joined the call after this client (`meeting_user_joined`). `known`: it was a
   * participant already (a reconnect); `rejoin`: the server says it rejoined.
   */
  participant_joined: { roomId: string; user: User; rejoin: boolean; known: boolean };
  /** Someone left the call (`meeting_user_left`). */
  participant_left: { roomId: string; user: User };
  /** The other participants changed: joins, leaves, media states. */
  participants: { roomId: string; participants: Participant[] };
  /** The call is over for this client. */
  closed: { roomId: string; reason: CloseReason };
}
