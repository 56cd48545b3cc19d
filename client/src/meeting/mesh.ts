import type { IceCandidate, User, VideoSignalEvent } from '../protocol.js';
import { videoCap } from './caps.js';
import type { MediaTransport, TransportHost } from './transport.js';

const OFFER_FALLBACK_MS = 5_000; // a joiner offers itself to participants that stayed silent
const POLITE_EXTRA_MS = 3_000; // ...the polite side later, so two rejoiners do not both offer
const ICE_WATCHDOG_MS = 10_000; // negotiated but still not connected: restart ICE
const ICE_DISCONNECTED_MS = 5_000; // disconnected this long: restart ICE rather than wait for failed
const ICE_POLITE_RESTART_MS = 4_000; // failed and the impolite side did not restart: the polite side does

/** One remote participant's connection. */
export interface MeshPeer {
  readonly userId: string;
  user: User;
  readonly pc: RTCPeerConnection;
  /** The smaller user id is polite: it yields in an offer collision (perfect negotiation). */
  readonly polite: boolean;
  /** The remote media; replaced by a new MediaStream whenever a track arrives. */
  stream: MediaStream;
  makingOffer: boolean;
  ignoreOffer: boolean;
  settingAnswer: boolean;
  pending: IceCandidate[]; // remote candidates before the remote description
  videoSender: RTCRtpSender | null;
  tracksAttached: boolean;
  chain: Promise<void>; // serializes signal handling
  watchdog?: ReturnType<typeof setTimeout>;
  iceTimer?: ReturnType<typeof setTimeout>;
}

function fingerprint(sdp: string | undefined): string {
  return /^a=fingerprint:(.+)$/m.exec(sdp ?? '')?.[1]?.trim() ?? '';
}

/**
 * MeshTransport holds one RTCPeerConnection per other participant. Who offers first: the
 * participant that receives `meeting_user_joined`; the joiner answers (PROTOCOL.md §7). Later
 * renegotiations (a screen share without a camera, ICE restarts) follow "perfect negotiation":
 * the peer with the smaller user id is polite. Every outgoing video copy is capped by the mesh
 * size (videoCap).
 */
export class MeshTransport implements MediaTransport {
  readonly mode = 'mesh' as const;
  /** The connections, by remote user id. */
  readonly peers = new Map<string, MeshPeer>();
  private expected = new Map<string, User>();
  private offerTimers: ReturnType<typeof setTimeout>[] = [];
  private closed = false;

  constructor(private readonly host: TransportHost) {}

  joined(others: User[]): void {
    this.expectOffers(others);
  }

  participantJoined(user: User): void {
    this.closePeer(user.id); // a rejoin (or any repeat): the old connection is dead
    this.attachLocalTracks(this.createPeer(user.id, user), true); // → negotiationneeded → offer
  }

  participantLeft(userId: string): void {
    this.expected.delete(userId);
    this.closePeer(userId);
  }

  signal(event: string, data: unknown): void {
    if (event !== 'video-signal') return;
    const d = data as VideoSignalEvent;
    const from = d.senderId;
    if (!from || from === this.host.me) return;
    let peer = this.peers.get(from);
    if (!peer) {
      if (d.type !== 'offer') return; // an answer or candidate for a connection we no longer have
      peer = this.createPeer(from, { id: from, username: from });
    }
    const p = peer;
    const run = d.type === 'candidate' ? () => this.onCandidate(p, d.candidate) : () => this.onDescription(p, { type: d.type as RTCSdpType, sdp: d.sdp ?? '' });
    p.chain = p.chain.then(run).catch((err) => console.warn('huddle: signal', d.type, from, err));
  }

  videoChanged(track: MediaStreamTrack | null): void {
    for (const peer of this.peers.values()) this.setOutgoingVideo(peer, track);
  }

  async trackReplaced(track: MediaStreamTrack): Promise<void> {
    const sharing = track.kind === 'video' && !!this.host.media.screenTrack;
    for (const peer of this.peers.values()) {
      const sender = peer.pc.getSenders().find((s) => s.track?.kind === track.kind || (s.track === null && s === peer.videoSender && track.kind === 'video'));
      if (sender && !sharing) await sender.replaceTrack(track).catch((e) => console.warn('huddle: replaceTrack', e));
    }
    this.applyCaps();
  }

  peerConnections(): RTCPeerConnection[] {
    return [...this.peers.values()].map((p) => p.pc).filter((pc) => pc.signalingState !== 'closed');
  }

  audioLevels(): Map<string, number> {
    const levels = new Map<string, number>();
    for (const [id, peer] of this.peers) {
      const r = peer.pc.getReceivers().find((x) => x.track?.kind === 'audio');
      const src = r?.getSynchronizationSources?.()[0];
      levels.set(id, src && performance.now() - src.timestamp < 1000 ? (src.audioLevel ?? 0) : 0);
    }
    return levels;
  }

  close(): void {
    this.closed = true;
    this.offerTimers.forEach(clearTimeout);
    this.offerTimers = [];
    this.closePeers();
  }

  // Safety net: participants are told of our join and offer at once. One that has not offered
  // after a while (a server that did not announce a rejoin, a lost frame) gets our offer;
  // perfect negotiation and the fingerprint check keep that safe in a late collision. Two
  // rejoiners that both time out would offer at once; a glare on an initial offer makes the
  // polite side roll it back, and Chromium then gathers no candidates for its answer. So the
  // polite side waits longer and normally just answers the impolite side's offer.
  private expectOffers(others: User[]): void {
    this.offerTimers.forEach(clearTimeout);
    this.expected = new Map(others.map((u) => [u.id, u]));
    const roomId = this.host.roomId;
    this.offerTimers = others.map((u) =>
      setTimeout(
        () => {
          if (this.closed || this.host.roomId !== roomId || this.peers.has(u.id) || !this.expected.has(u.id)) return;
          console.info('huddle: no offer from', u.id, '- offering instead');
          this.attachLocalTracks(this.createPeer(u.id, u), true);
        },
        OFFER_FALLBACK_MS + (this.host.me < u.id ? POLITE_EXTRA_MS : 0),
      ),
    );
  }

  private closePeers(): void {
    for (const id of [...this.peers.keys()]) this.closePeer(id);
  }

  private closePeer(userId: string): void {
    const peer = this.peers.get(userId);
    if (!peer) return;
    this.peers.delete(userId);
    clearTimeout(peer.watchdog);
    clearTimeout(peer.iceTimer);
    const pc = peer.pc;
    pc.onsignalingstatechange = pc.onicecandidate = pc.ontrack = pc.onnegotiationneeded = pc.onconnectionstatechange = null;
    pc.close();
    this.host.emit('remote_left', { userId });
    this.applyCaps();
  }

  // With a video sender, replaceTrack needs no renegotiation. Without one (receive-only
  // camera), addTrack reuses the recvonly video transceiver and negotiationneeded renegotiates.
  private setOutgoingVideo(peer: MeshPeer, track: MediaStreamTrack | null): void {
    if (!peer.tracksAttached) return; // the answer path attaches the current tracks itself
    if (peer.videoSender) {
      peer.videoSender
        .replaceTrack(track)
        .then(() => this.applyCaps())
        .catch((e) => console.warn('huddle: replaceTrack', e));
    } else if (track) peer.videoSender = peer.pc.addTrack(track, this.host.media.camStream ?? new MediaStream([track]));
  }

  // Cap every outgoing video by the number of peers (videoCap). Screen shares keep their
  // resolution (text must stay legible) but obey the bitrate cap.
  private applyCaps(): void {
    const cap = videoCap(this.peers.size);
    for (const peer of this.peers.values()) {
      const sender = peer.videoSender;
      if (!sender || peer.pc.signalingState === 'closed') continue;
      const params = sender.getParameters();
      if (!params.encodings?.length) continue; // before negotiation: applied again once connected
      const track = sender.track;
      const height = track?.getSettings?.().height ?? 0;
      const scale = track && track !== this.host.media.screenTrack && height > cap.maxHeight ? height / cap.maxHeight : 1;
      const enc = params.encodings[0]!;
      if (enc.maxBitrate === cap.maxBitrate && (enc.scaleResolutionDownBy ?? 1) === scale) continue;
      params.encodings = params.encodings.map((e) => ({ ...e, maxBitrate: cap.maxBitrate, scaleResolutionDownBy: scale }));
      sender.setParameters(params).catch((e) => console.debug('huddle: setParameters', e));
    }
  }

  private createPeer(userId: string, user: User): MeshPeer {
    const pc = new RTCPeerConnection(this.host.rtcConfig());
    const peer: MeshPeer = {
      userId,
      user,
      pc,
      polite: this.host.me < userId,
      stream: new MediaStream(),
      makingOffer: false,
      ignoreOffer: false,
      settingAnswer: false,
      pending: [],
      videoSender: null,
      tracksAttached: false,
      chain: Promise.resolve(),
    };
    pc.onicecandidate = ({ candidate }) => {
      if (candidate) this.send(userId, { type: 'candidate', candidate: candidate.toJSON() });
    };
    pc.onnegotiationneeded = async () => {
      try {
        peer.makingOffer = true;
        await pc.setLocalDescription();
        this.send(userId, { type: pc.localDescription!.type, sdp: pc.localDescription!.sdp });
      } catch (err) {
        console.warn('huddle: negotiation failed', userId, err);
      } finally {
        peer.makingOffer = false;
      }
    };
    pc.ontrack = ({ track }) => {
      // One track per kind per peer; a fresh MediaStream makes <video> pick the change up.
      const keep = peer.stream.getTracks().filter((t) => t.kind !== track.kind);
      peer.stream = new MediaStream([...keep, track]);
      this.host.emit('remote_stream', { userId, user: peer.user, stream: peer.stream });
    };
    // Only the impolite side restarts ICE (a restart is a renegotiation, so both doing it would
    // collide). It does so on failure, and when a negotiated connection does not come up (lost
    // candidates, or a side that gathered none): restartIce makes both sides gather afresh.
    const restart = (politeToo = false) => {
      if ((!peer.polite || politeToo) && pc.signalingState === 'stable' && pc.connectionState !== 'connected' && pc.connectionState !== 'closed') {
        console.info('huddle: restarting ICE with', userId);
        pc.restartIce(); // → negotiationneeded → offer with new ICE credentials
      }
    };
    pc.onsignalingstatechange = () => {
      clearTimeout(peer.watchdog);
      if (pc.signalingState === 'stable' && pc.connectionState !== 'connected') peer.watchdog = setTimeout(restart, ICE_WATCHDOG_MS);
    };
    pc.onconnectionstatechange = () => {
      this.host.emit('peer_state', { userId, state: pc.connectionState });
      if (pc.connectionState === 'connected') {
        clearTimeout(peer.watchdog);
        this.applyCaps();
      }
      clearTimeout(peer.iceTimer);
      // failed: restart now (impolite side), and from the polite side too if the impolite one
      // did not (it may be the one whose network broke). disconnected often heals by itself
      // within seconds; if not, restart before the browser declares failure (~30 s).
      if (pc.connectionState === 'failed') {
        restart();
        peer.iceTimer = setTimeout(() => pc.connectionState === 'failed' && restart(true), ICE_POLITE_RESTART_MS);
      } else if (pc.connectionState === 'disconnected') {
        peer.iceTimer = setTimeout(() => restart(), ICE_DISCONNECTED_MS);
      }
    };
    this.peers.set(userId, peer);
    this.host.emit('peer_state', { userId, state: 'new' });
    this.applyCaps(); // one more peer: every other copy gets a smaller budget
    return peer;
  }

  // The offerer adds recvonly transceivers for missing kinds so it always receives audio and
  // video; the answerer reuses the transceivers the offer created.
  private attachLocalTracks(peer: MeshPeer, offerer: boolean): void {
    const media = this.host.media;
    const stream = media.camStream ?? new MediaStream();
    const audio = media.audioTrack;
    const video = media.outgoingVideo;
    if (audio) peer.pc.addTrack(audio, stream);
    else if (offerer) peer.pc.addTransceiver('audio', { direction: 'recvonly' });
    if (video) peer.videoSender = peer.pc.addTrack(video, stream);
    else if (offerer) peer.pc.addTransceiver('video', { direction: 'recvonly' });
    peer.tracksAttached = true;
    this.applyCaps();
  }

  private send(targetId: string, payload: { type: string; sdp?: string; candidate?: IceCandidate }): void {
    const roomId = this.host.roomId;
    if (!roomId || this.closed) return;
    this.host.send('video-signal', { roomId, targetId, ...payload });
  }

  // Perfect negotiation (https://w3c.github.io/webrtc-pc/#perfect-negotiation-example).
  private async onDescription(peer: MeshPeer, desc: RTCSessionDescriptionInit): Promise<void> {
    const { pc } = peer;
    if (pc.signalingState === 'closed') return;
    if (desc.type === 'offer' && pc.remoteDescription && fingerprint(desc.sdp) !== fingerprint(pc.remoteDescription.sdp)) {
      // A new DTLS certificate: the remote replaced its connection (a reload or a rejoin race).
      // Renegotiating the old one cannot work, so follow it with a fresh connection.
      this.closePeer(peer.userId);
      const fresh = this.createPeer(peer.userId, peer.user);
      fresh.chain = fresh.chain.then(() => this.onDescription(fresh, desc)).catch((err) => console.warn('huddle: signal offer', peer.userId, err));
      return;
    }
    const readyForOffer = !peer.makingOffer && (pc.signalingState === 'stable' || peer.settingAnswer);
    const collision = desc.type === 'offer' && !readyForOffer;
    peer.ignoreOffer = !peer.polite && collision;
    if (peer.ignoreOffer) return; // impolite: our offer wins, theirs is dropped
    if (desc.type === 'answer' && pc.signalingState !== 'have-local-offer') return; // stale
    // Polite side of a collision: setRemoteDescription(offer) rolls our offer back implicitly,
    // in one operation. (An explicit rollback first lets negotiationneeded fire in between and
    // send a second offer.)
    peer.settingAnswer = desc.type === 'answer';
    try {
      await pc.setRemoteDescription(desc);
    } finally {
      peer.settingAnswer = false;
    }
    for (const c of peer.pending.splice(0)) await this.addCandidate(peer, c);
    if (desc.type === 'offer') {
      if (!peer.tracksAttached) this.attachLocalTracks(peer, false);
      await pc.setLocalDescription();
      this.send(peer.userId, { type: 'answer', sdp: pc.localDescription!.sdp });
      this.applyCaps();
    }
  }

  private async onCandidate(peer: MeshPeer, candidate: IceCandidate | undefined): Promise<void> {
    if (!candidate || peer.pc.signalingState === 'closed') return;
    if (!peer.pc.remoteDescription) peer.pending.push(candidate);
    else await this.addCandidate(peer, candidate);
  }

  private async addCandidate(peer: MeshPeer, candidate: IceCandidate): Promise<void> {
    try {
      await peer.pc.addIceCandidate(candidate);
    } catch (err) {
      if (!peer.ignoreOffer) console.debug('huddle: addIceCandidate', err);
    }
  }
}
