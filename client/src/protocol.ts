// Types of Huddle's wire protocol, version 1 (docs/PROTOCOL.md): every event a client sends
// (ClientEvents) and every event the server sends (ServerEvents), keyed by event name.
// Servers may add fields and events (PROTOCOL.md §10): clients ignore what they do not know.

/** A user as the server names it (PROTOCOL.md §2). More fields may follow. */
export interface User {
  id: string;
  username: string;
}

/** An ICE server for RTCPeerConnection, as `session` and `room_info_response` carry it. */
export interface IceServer {
  urls: string[];
  username?: string;
  credential?: string;
}

/** The server's limits, from `session`. */
export interface Limits {
  maxFrameBytes: number;
  maxMessageBytes: number;
  maxRoomsPerSession: number;
}

// ---- §3, §4: session start and resume ------------------------------------------------------------

/** `session`: the first frame of every connection. */
export interface SessionEvent {
  sessionId: string;
  user: User;
  /** Present the token (with the last seq processed) to resume after a lost connection. */
  resumeToken?: string;
  resumeWindowMs: number;
  /** true: the old session continues and missed events follow; false: a fresh session. */
  resumed: boolean;
  /** RFC 3339. */
  serverTime: string;
  iceServers: IceServer[];
  limits: Limits;
  nodeId?: string;
}

/** `resumed`: the replay after a resumed `session` is complete. */
export interface ResumedEvent {
  replayed: number;
}

// ---- §5: chat ------------------------------------------------------------------------------------

/** A chat message as the server stores and sends it. */
export interface Message {
  /** UUIDv7: sortable. */
  id: string;
  roomId: string;
  content: string;
  sender: User;
  /** RFC 3339 with milliseconds. */
  createdAt: string;
  updatedAt: string;
  clientMsgId?: string;
}

export interface RoomRef {
  roomId: string;
}

/** `room_joined`: the reply to `join_room`. */
export interface RoomJoinedEvent {
  roomId: string;
  members: User[];
  /** Ids of the members online now. */
  online: string[];
}

/** `member_added`, `member_joined`, `member_left`. */
export interface MemberEvent {
  roomId: string;
  user: User;
}

/** `history`: the reply to `get_history`; messages oldest first. */
export interface HistoryEvent {
  roomId: string;
  messages: Message[];
  /** With `before` (or no cursor): older messages exist. With `after`: newer ones exist. */
  hasMore: boolean;
}

/** `typing` from the server: another member started or stopped typing. */
export interface TypingEvent {
  roomId: string;
  user: User;
  isTyping: boolean;
}

/** `rooms`: the reply to `get_rooms`. */
export interface RoomsEvent {
  rooms: string[];
}

// ---- §6: presence --------------------------------------------------------------------------------

export type PresenceStatus = 'online' | 'away' | 'offline';

/** `presence`: a user's aggregate status changed (a state: apply the last one). */
export interface PresenceEvent {
  user: User;
  status: PresenceStatus;
  /** RFC 3339; when the user was last online. */
  lastSeen?: string;
}

/** `presence_snapshot`: at session start and as the reply to `get_presence`. */
export interface PresenceSnapshotEvent {
  users: PresenceEvent[];
}

// ---- §7: meetings --------------------------------------------------------------------------------

export type MeetingType = 'direct' | 'group';

/** What a participant sends: its `media_state`. */
export interface MediaState {
  audio: boolean;
  video: boolean;
  screen: boolean;
}

/** A participant of a meeting: the user and its media state. */
export interface Participant extends User, MediaState {}

/** ActiveMeeting (PROTOCOL.md §7): `meeting_started`, `meeting_invitation`. */
export interface ActiveMeeting {
  roomId: string;
  host: User;
  type: MeetingType;
  meetingLink: string;
  status: 'active' | 'inactive';
  /** Unix milliseconds. */
  createdAt: number;
  participants: Participant[];
  room?: { id: string };
}

/** `room_info_response` for a room with an active meeting. */
export interface ActiveRoomInfo extends ActiveMeeting {
  status: 'active';
  /** Online members of the room, the requester included. */
  onlineUsers: string[];
  iceServers: IceServer[];
}

/** `room_info_response` for a room without one. */
export interface InactiveRoomInfo {
  roomId: string;
  status: 'inactive';
}

export type RoomInfoEvent = ActiveRoomInfo | InactiveRoomInfo;

/** `meeting_joined`: the reply to `join_meeting`. */
export interface MeetingJoinedEvent {
  roomId: string;
  participants: Participant[];
}

/**
 * `meeting_user_joined`: the receiver sends the offer (the glare-free rule); on `rejoin` it
 * discards its old connection to that user first.
 */
export interface MeetingUserJoinedEvent {
  user: User;
  roomId: string;
  rejoin?: boolean;
}

/** `meeting_user_left`. */
export interface MeetingUserLeftEvent {
  user: User;
  roomId: string;
}

export type SignalType = 'offer' | 'answer' | 'candidate';

/** The ICE candidate of a `candidate` signal (RTCIceCandidateInit). */
export interface IceCandidate {
  candidate?: string;
  sdpMid?: string | null;
  sdpMLineIndex?: number | null;
  usernameFragment?: string | null;
}

/** `video-signal` as a client sends it. */
export interface VideoSignalRequest {
  type: SignalType;
  roomId: string;
  targetId: string;
  sdp?: string;
  candidate?: IceCandidate;
}

/** `video-signal` as the server relays it: `senderId` is set by the server. */
export interface VideoSignalEvent extends VideoSignalRequest {
  senderId: string;
}

/** `media_state` from the server: a participant's media changed. */
export interface MediaStateEvent extends MediaState {
  roomId: string;
  user: User;
}

export type MeetingEndReason = 'stopped' | 'empty' | 'host_left';

/** `meeting_ended`. */
export interface MeetingEndedEvent {
  roomId: string;
  reason: MeetingEndReason;
}

/** `meeting_host_changed` (the `transfer` host policy). */
export interface MeetingHostChangedEvent {
  roomId: string;
  host: User;
}

// ---- §8: errors ----------------------------------------------------------------------------------

/** The codes of `error` events (PROTOCOL.md §8). */
export type ServerErrorCode =
  | 'bad_request'
  | 'unknown_event'
  | 'forbidden'
  | 'not_found'
  | 'conflict'
  | 'meeting_full'
  | 'target_unavailable'
  | 'too_large'
  | 'rate_limited'
  | 'unauthorized'
  | 'unavailable'
  | 'internal';

/** `error`: sent to the offending session; the connection stays open. */
export interface ErrorEvent {
  code: ServerErrorCode;
  message: string;
  /** The event that caused it. */
  event?: string;
  /** The ref of the frame that caused it. */
  ref?: string;
}

// ---- the maps ------------------------------------------------------------------------------------

/** Every event a client sends, by name, with its `data`. */
export interface ClientEvents {
  join_room: { roomId: string };
  leave_room: { roomId: string };
  add_member: { roomId: string; userId: string; username?: string };
  message: { roomId: string; content: string; clientMsgId?: string };
  /** `before` and `after` are message ids; not both. `limit`: 1..100 (default 50). */
  get_history: { roomId: string; before?: string; after?: string; limit?: number };
  typing: { roomId: string; isTyping: boolean };
  get_rooms: Record<string, never>;
  presence: { status: 'online' | 'away' };
  get_presence: { roomId?: string };
  start_meeting: { roomId: string; type?: MeetingType };
  get_room_info: { roomId: string } | string;
  join_meeting: { roomId: string; hostId?: string };
  'video-signal': VideoSignalRequest;
  media_state: MediaState & { roomId: string };
  leave_meeting: { roomId: string };
  stop_meeting: { roomId: string };
  ping: Record<string, never>;
}

/** Every event the server sends, by name, with its `data`. */
export interface ServerEvents {
  session: SessionEvent;
  resumed: ResumedEvent;
  error: ErrorEvent;
  pong: Record<string, never>;
  message: Message;
  room_joined: RoomJoinedEvent;
  room_left: RoomRef;
  member_added: MemberEvent;
  member_joined: MemberEvent;
  member_left: MemberEvent;
  history: HistoryEvent;
  typing: TypingEvent;
  rooms: RoomsEvent;
  presence: PresenceEvent;
  presence_snapshot: PresenceSnapshotEvent;
  meeting_invitation: ActiveMeeting;
  meeting_started: ActiveMeeting;
  room_info_response: RoomInfoEvent;
  meeting_joined: MeetingJoinedEvent;
  meeting_user_joined: MeetingUserJoinedEvent;
  meeting_user_left: MeetingUserLeftEvent;
  'video-signal': VideoSignalEvent;
  media_state: MediaStateEvent;
  meeting_ended: MeetingEndedEvent;
  meeting_host_changed: MeetingHostChangedEvent;
}

export type ClientEventName = keyof ClientEvents;
export type ServerEventName = keyof ServerEvents;

/**
 * The reply each request gets (PROTOCOL.md §5–§7). The server echoes the request's `ref` on
 * these, except `message` (the broadcast echo, matched by clientMsgId), `meeting_started`
 * (matched by roomId) and `stop_meeting`'s inactive `meeting_invitation` (matched by roomId).
 */
export interface Replies {
  join_room: 'room_joined';
  leave_room: 'room_left';
  add_member: 'member_added';
  message: 'message';
  get_history: 'history';
  get_rooms: 'rooms';
  get_presence: 'presence_snapshot';
  start_meeting: 'meeting_started';
  get_room_info: 'room_info_response';
  join_meeting: 'meeting_joined';
  stop_meeting: 'meeting_invitation';
  ping: 'pong';
}

/** The events that get a reply: `client.request(name, data)` resolves with it. */
export type RequestName = keyof Replies;

/** The data of the reply to request E. */
export type ReplyOf<E extends RequestName> = ServerEvents[Replies[E]];

/** The frame a client writes (PROTOCOL.md §2). */
export interface ClientFrame<E extends ClientEventName = ClientEventName> {
  event: E;
  data: ClientEvents[E];
  ref?: string;
}

/** A frame the server writes with codec `json`; `json-payload` uses `payload` for `data`. */
export interface ServerFrame {
  event: string;
  data?: unknown;
  payload?: unknown;
  ref?: string;
  seq?: number;
}
