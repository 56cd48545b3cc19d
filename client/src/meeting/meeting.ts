import type { HuddleClient } from '../client.js';
import { Emitter } from '../emitter.js';
import { HuddleError } from '../errors.js';
import type { ActiveMeeting, MeetingJoinedEvent, MeetingType, Participant, User } from '../protocol.js';
import type { CloseReason, MeetingEvents } from './events.js';
import { LocalMedia } from './media.js';
import { MeshTransport, type MeshPeer } from './mesh.js';
import type { MediaTransport, TransportHost } from './transport.js';

export interface MeetingOptions {
  /** RTCConfiguration.iceTransportPolicy: `relay` sends every call through TURN. Default `all`. */
  iceTransportPolicy?: RTCIceTransportPolicy;
  /** getUserMedia constraints for calls; `false` joins receive-only. Default audio and video. */
  constraints?: MediaStreamConstraints | false;
  /**
   * Makes the media transport of each call. Default: a MeshTransport. (Node, which has no
   * WebRTC, can pass one that only records; an SFU mode plugs in here.)
   */
  transport?: (host: TransportHost) => MediaTransport;
}

export interface JoinOptions {
  constraints?: MediaStreamConstraints | false;
  /** This client is the meeting's host (a rejoin after a reload). */
  isHost?: boolean;
}

export interface StartOptions {
  constraints?: MediaStreamConstraints | false;
  type?: MeetingType;
}

const EMPTY_PEERS: ReadonlyMap<string, MeshPeer> = new Map();

/**
 * Meeting is this client's part in a room's meeting (PROTOCOL.md §7): one call at a time. It
 * starts, joins, leaves and ends meetings, opens the camera and microphone, reports
 * `media_state`, keeps the participant list, rejoins by itself when the session was replaced
 * (a refused resume, a page back from the cache, a replay that shows the participant grace
 * ran out) and hands the media to a transport: the WebRTC mesh.
 *
 * Create it right after the client and before adding the application's own listeners, so that
 * the meeting has handled each event before the application sees it.
 *
 *     const meeting = new Meeting(client);
 *     meeting.on('remote_stream', ({ userId, stream }) => attach(userId, stream));
 *     meeting.on('closed', ({ reason }) => showLobby(reason));
 *     await meeting.join('standup');
 */
export class Meeting extends Emitter<MeetingEvents> {
  /** The room of the call this client is in, or null. */
  roomId: string | null = null;
  /** Whether this user hosts the call. */
  isHost = false;
  /** The other participants, by user id, with their media state. */
  readonly participants = new Map<string, Participant>();
  readonly media = new LocalMedia();
  /** The transport of the current call. */
  transport: MediaTransport | null = null;

  /** RTCConfiguration.iceTransportPolicy of the call's connections. */
  readonly iceTransportPolicy: RTCIceTransportPolicy;

  private readonly opts: MeetingOptions;
  private joining: string | null = null;
  private stopping: string | null = null;
  private rejoining = false;
  private rejoinAgain = false;
  private rejoinSession: string | null = null; // the session a rejoin in flight was sent on
  private gen = 0; // bumped by close(): cancels starts and joins in flight
  private readonly offs: (() => void)[] = []; // the client listeners, for dispose()

  constructor(
    readonly client: HuddleClient,
    options: MeetingOptions = {},
  ) {
    super();
    this.opts = options;
    this.iceTransportPolicy = options.iceTransportPolicy ?? 'all';
    const inRoom = (d: { roomId?: string } | null | undefined) => !!this.roomId && d?.roomId === this.roomId;
    const on: HuddleClient['on'] = (type: string, fn: (d: any) => void) => {
      const off = client.on(type as 'state', fn);
      this.offs.push(off);
      return off;
    };
    on('meeting_user_joined', (d) => {
      const uid = d?.user?.id;
      if (!inRoom(d) || !uid || uid === this.me) return;
      const known = this.participants.has(uid);
      this.addParticipant(d.user);
      this.emit('participant_joined', { roomId: d.roomId, user: d.user, rejoin: !!d.rejoin, known });
      // Before our own meeting_joined, this join was handled before ours: that participant is
      // told about our join too and offers to us. Offering as well would make two connections.
      if (this.joining === this.roomId) return;
      this.transport?.participantJoined(d.user, !!d.rejoin);
    });
    on('meeting_user_left', (d) => {
      if (!inRoom(d)) return;
      if (d.user?.id === this.me) return this.rejoin(); // the grace ran out while we were away
      if (this.participants.delete(d.user?.id)) this.emitParticipants();
      this.transport?.participantLeft(d.user?.id);
      this.emit('participant_left', { roomId: d.roomId, user: d.user });
    });
    on('video-signal', (d) => {
      if (inRoom(d)) this.transport?.signal('video-signal', d);
    });
    on('media_state', (d) => {
      if (!inRoom(d) || !d.user?.id || d.user.id === this.me) return;
      const p = this.participants.get(d.user.id);
      this.participants.set(d.user.id, { ...(p ?? d.user), id: d.user.id, username: d.user.username ?? p?.username, audio: !!d.audio, video: !!d.video, screen: !!d.screen });
      this.emitParticipants();
    });
    on('meeting_ended', (d) => {
      if (inRoom(d)) this.close('ended');
    });
    on('meeting_invitation', (d) => {
      if (inRoom(d) && d.status === 'inactive') this.close(this.stopping === d.roomId ? 'stopped' : 'ended');
    });
    on('meeting_host_changed', (d) => {
      if (inRoom(d)) this.setHost(d.host?.id === this.me);
    });
    on('meeting_started', (d) => {
      if (inRoom(d)) this.setHost(true);
    });
    on('meeting_joined', (d) => {
      if (inRoom(d)) this.joining = null;
    });
    // A fresh session is bound to no meeting, and a page back from the back/forward cache may
    // have had its connections torn down: join again.
    on('resync', () => this.rejoin());
    on('synced', ({ woke, resumed }) => {
      if (woke && resumed) this.rejoin(); // (a fresh session came with `resync`)
    });
    on('state', ({ state }) => {
      if (state === 'closed') this.close('disconnected');
    });
  }

  private get me(): string {
    return this.client.user?.id ?? '';
  }

  // ---- what the application reads --------------------------------------------------------------

  /** The mesh connections by remote user id (empty in other modes). */
  get peers(): ReadonlyMap<string, MeshPeer> {
    return this.transport instanceof MeshTransport ? this.transport.peers : EMPTY_PEERS;
  }

  get audioTrack(): MediaStreamTrack | null {
    return this.media.audioTrack;
  }

  get cameraTrack(): MediaStreamTrack | null {
    return this.media.cameraTrack;
  }

  get screenTrack(): MediaStreamTrack | null {
    return this.media.screenTrack;
  }

  get micEnabled(): boolean {
    return this.media.micEnabled;
  }

  get cameraEnabled(): boolean {
    return this.media.cameraEnabled;
  }

  /** Every local track this meeting opened (stopped ones included, until the next call). */
  localTracks(): MediaStreamTrack[] {
    return [...this.media.allTracks];
  }

  /** The open peer connections of the call. */
  peerConnections(): RTCPeerConnection[] {
    return this.transport?.peerConnections() ?? [];
  }

  /** Audio level (0..1) of each remote participant, for speaker highlights. */
  audioLevels(): Map<string, number> {
    return this.transport?.audioLevels() ?? new Map();
  }

  /** The local preview: video only, so it can never echo. */
  previewStream(): MediaStream | null {
    return this.media.previewStream();
  }

  // ---- lifecycle -------------------------------------------------------------------------------

  /** Start a meeting in roomId as its host: media first, then `start_meeting`. */
  async start(roomId: string, { type, constraints }: StartOptions = {}): Promise<ActiveMeeting> {
    if (this.roomId) await this.leave();
    const gen = this.gen;
    await this.acquire(constraints);
    if (gen !== this.gen) throw new HuddleError('cancelled', 'meeting left');
    this.begin(roomId);
    try {
      const m = await this.client.request('start_meeting', type ? { roomId, type } : { roomId });
      this.setHost(true);
      this.sendMediaState();
      return m;
    } catch (err) {
      if (gen === this.gen) this.close('failed');
      throw err;
    }
  }

  /**
   * Join (or rejoin) the meeting of roomId: media, then `join_meeting` without hostId, so that
   * the server tells every other participant, and each of them offers.
   */
  async join(roomId: string, { constraints, isHost = false }: JoinOptions = {}): Promise<MeetingJoinedEvent> {
    if (this.roomId && this.roomId !== roomId) await this.leave();
    const gen = this.gen;
    await this.acquire(constraints);
    if (gen !== this.gen) throw new HuddleError('cancelled', 'meeting left');
    this.begin(roomId); // a fresh transport: everyone offers afresh after a (re)join
    this.joining = roomId; // until meeting_joined: see meeting_user_joined
    if (isHost) this.setHost(true);
    let res: MeetingJoinedEvent;
    try {
      res = await this.client.request('join_meeting', { roomId });
    } catch (err) {
      const code = (err as HuddleError).code;
      // A rejoin cut short by another lost connection is tried again by the next session.
      const retry = this.rejoining && code === 'disconnected';
      if (gen === this.gen && !retry) this.close(code === 'not_found' ? 'not_found' : 'failed');
      throw err;
    } finally {
      if (this.joining === roomId) this.joining = null;
    }
    if (gen !== this.gen) throw new HuddleError('cancelled', 'meeting left');
    const others = (res?.participants ?? []).filter((u) => u?.id && u.id !== this.me);
    this.participants.clear();
    for (const p of others) this.participants.set(p.id, p);
    this.emitParticipants();
    this.sendMediaState();
    this.transport?.joined(others);
    // meeting_joined does not name the host; room info does.
    this.client
      .roomInfo(roomId)
      .then((info) => {
        if (this.roomId === roomId && info.status === 'active' && 'host' in info) this.setHost(info.host?.id === this.me);
      })
      .catch(() => {});
    return res;
  }

  /** Leave the call; the meeting goes on for the others. */
  async leave(): Promise<void> {
    const roomId = this.roomId;
    if (!roomId) return;
    this.close('left');
    this.client.send('leave_meeting', { roomId });
  }

  /** End the meeting for everyone (host only: `forbidden` keeps the call and rethrows). */
  async stop(): Promise<void> {
    const roomId = this.roomId;
    if (!roomId) return;
    this.stopping = roomId;
    try {
      // The stopping session gets no meeting_ended; the inactive invitation confirms the stop.
      await this.client.request('stop_meeting', { roomId });
    } catch (err) {
      const code = (err as HuddleError).code;
      if (code !== 'timeout' && code !== 'not_found') throw err;
    } finally {
      this.stopping = null;
    }
    if (this.roomId === roomId) this.close('stopped');
  }

  /** Leave the call and stop listening to the client: the Meeting is done (a view unmounted). */
  dispose(): void {
    void this.leave();
    this.offs.splice(0).forEach((off) => off());
  }

  /** Stop every local track, close every connection and forget the call. */
  close(reason: CloseReason = 'closed'): void {
    this.gen++;
    this.joining = null;
    this.rejoinAgain = false;
    const roomId = this.roomId;
    this.media.release();
    this.transport?.close();
    this.transport = null;
    this.roomId = null;
    this.participants.clear();
    this.setHost(false);
    this.emit('local_stream', { stream: null });
    if (roomId) this.emit('closed', { roomId, reason });
  }

  private begin(roomId: string): void {
    const meeting = this;
    this.transport?.close();
    if (this.roomId !== roomId) this.participants.clear();
    this.roomId = roomId;
    const host: TransportHost = {
      get roomId() {
        return meeting.roomId;
      },
      get me() {
        return meeting.me;
      },
      media: this.media,
      rtcConfig: () => ({ iceServers: this.client.iceServers, iceTransportPolicy: this.iceTransportPolicy }),
      send: (event, data) => {
        this.client.send(event, data);
      },
      emit: (type, data) => this.emit(type, data),
    };
    this.transport = this.opts.transport ? this.opts.transport(host) : new MeshTransport(host);
  }

  // Rejoin after losing the binding (a fresh session, our own meeting_user_left in a replay, a
  // page back from the cache). A meeting that ended meanwhile closes with `not_found`.
  private rejoin(): void {
    const roomId = this.roomId;
    if (!roomId) return;
    if (this.rejoining) {
      // A new session came while a rejoin was in flight on the old one: rejoin again after it.
      if (this.client.sessionId !== this.rejoinSession) this.rejoinAgain = true;
      return;
    }
    this.rejoining = true;
    this.rejoinSession = this.client.sessionId;
    this.join(roomId, { isHost: this.isHost })
      .catch((err: HuddleError) => {
        if (err.code === 'cancelled' || err.code === 'disconnected') return;
        if (err.code !== 'not_found') console.warn('huddle: rejoin failed', err);
        if (this.roomId === roomId) this.close(err.code || 'failed');
      })
      .finally(() => {
        this.rejoining = false;
        if (this.rejoinAgain) {
          this.rejoinAgain = false;
          if (this.client.state === 'open') this.rejoin();
        }
      });
  }

  private async acquire(constraints: MediaStreamConstraints | false | undefined): Promise<void> {
    const c = constraints ?? this.opts.constraints ?? { audio: true, video: true };
    const gen = this.gen;
    const stream = await this.media.acquire(c, (e) => this.emit('media_error', e));
    if (!stream || stream === this.media.camStream) return;
    if (gen !== this.gen) {
      stream.getTracks().forEach((t) => t.stop()); // the call was left while the prompt was open
      return;
    }
    this.media.use(stream);
    this.emit('local_stream', { stream: this.media.previewStream() });
  }

  private setHost(isHost: boolean): void {
    if (this.isHost === isHost) return;
    this.isHost = isHost;
    this.emit('host', { roomId: this.roomId, isHost });
  }

  private addParticipant(user: User): void {
    const p = this.participants.get(user.id);
    this.participants.set(user.id, { audio: true, video: true, screen: false, ...p, id: user.id, username: user.username });
    this.emitParticipants();
  }

  private emitParticipants(): void {
    if (this.roomId) this.emit('participants', { roomId: this.roomId, participants: [...this.participants.values()] });
  }

  // ---- media controls --------------------------------------------------------------------------

  /** Tell the others what this participant sends. */
  sendMediaState(): void {
    if (this.roomId) this.client.send('media_state', { roomId: this.roomId, ...this.media.state });
  }

  /** Mute or unmute the microphone; returns whether it is on. */
  setMicEnabled(on: boolean): boolean {
    const t = this.media.audioTrack;
    if (t) t.enabled = on;
    this.sendMediaState();
    return this.media.micEnabled;
  }

  /** Turn the camera on or off (the track stays open); returns whether it is on. */
  setCameraEnabled(on: boolean): boolean {
    const t = this.media.cameraTrack;
    if (t) t.enabled = on;
    this.sendMediaState();
    return this.media.cameraEnabled;
  }

  /** Share the screen instead of the camera (needs a user gesture in browsers). */
  async startScreenShare(): Promise<void> {
    if (!this.roomId || this.media.screenTrack) return;
    const gen = this.gen;
    const track = await this.media.captureScreen();
    if (!track) return;
    if (gen !== this.gen) return track.stop();
    this.media.screenTrack = track;
    this.media.allTracks.add(track);
    track.addEventListener('ended', () => this.stopScreenShare()); // the browser's "Stop sharing"
    this.transport?.videoChanged(track);
    this.emit('local_stream', { stream: this.media.previewStream() });
    this.sendMediaState();
  }

  /** Back to the camera. */
  stopScreenShare(): void {
    const track = this.media.screenTrack;
    if (!track) return;
    this.media.screenTrack = null;
    track.stop();
    this.transport?.videoChanged(this.media.cameraTrack);
    this.emit('local_stream', { stream: this.media.previewStream() });
    this.sendMediaState();
  }

  /** Switch the camera or microphone to another device (a deviceId from enumerateDevices). */
  async useDevice(kind: 'audio' | 'video', deviceId: string): Promise<void> {
    const opened = await this.media.openDevice(kind, deviceId);
    if (!opened) return;
    await this.transport?.trackReplaced(opened.track);
    opened.old?.stop();
    this.emit('local_stream', { stream: this.media.previewStream() });
    this.sendMediaState();
  }
}
