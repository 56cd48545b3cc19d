/**
 * LocalMedia is this participant's camera, microphone and screen share: what every transport
 * (mesh or SFU) sends. It keeps every track it ever opened until release(), so that a call
 * leaves no camera light on.
 */
export class LocalMedia {
    /** From getUserMedia (audio and/or video); null when receive-only. */
    camStream = null;
    /** The screen capture while sharing. */
    screenTrack = null;
    /** Every local track opened (ended ones kept until the next acquire). */
    allTracks = new Set();
    get audioTrack() {
        return this.camStream?.getAudioTracks()[0] ?? null;
    }
    get cameraTrack() {
        return this.camStream?.getVideoTracks()[0] ?? null;
    }
    /** The video sent: the screen while sharing, else the camera. */
    get outgoingVideo() {
        return this.screenTrack ?? this.cameraTrack;
    }
    get micEnabled() {
        return !!this.audioTrack?.enabled;
    }
    get cameraEnabled() {
        return !!this.cameraTrack?.enabled;
    }
    /** What `media_state` reports. */
    get state() {
        const live = (t) => !!t && t.readyState === 'live' && t.enabled;
        return { audio: live(this.audioTrack), video: live(this.cameraTrack), screen: !!this.screenTrack };
    }
    /** The local preview: video only, so it can never echo. */
    previewStream() {
        const v = this.outgoingVideo;
        return v ? new MediaStream([v]) : null;
    }
    /**
     * Open the camera and microphone (once per call). Falls back to the microphone alone, then
     * to receive-only; `onError` hears why. Constraints `false` means receive-only at once.
     */
    async acquire(constraints, onError) {
        if (this.camStream?.getTracks().some((t) => t.readyState === 'live'))
            return this.camStream;
        for (const t of this.allTracks)
            if (t.readyState === 'ended')
                this.allTracks.delete(t);
        if (constraints === false)
            return null;
        const md = globalThis.navigator?.mediaDevices;
        let stream = null;
        try {
            if (!md?.getUserMedia)
                throw new DOMException('getUserMedia unavailable (insecure origin?)', 'NotSupportedError');
            stream = await md.getUserMedia(constraints);
        }
        catch (err) {
            if (constraints.video && constraints.audio && md?.getUserMedia) {
                try {
                    stream = await md.getUserMedia({ audio: constraints.audio });
                }
                catch {
                    // receive-only
                }
            }
            const e = err;
            onError({ name: e?.name ?? 'Error', message: e?.message ?? String(err), receiveOnly: !stream });
        }
        return stream;
    }
    /** Keep stream as this call's camera and microphone. */
    use(stream) {
        this.camStream = stream;
        for (const t of stream.getTracks())
            this.allTracks.add(t);
    }
    /** Capture the screen (getDisplayMedia); the track is also returned. */
    async captureScreen() {
        const md = globalThis.navigator?.mediaDevices;
        if (!md?.getDisplayMedia)
            throw new DOMException('getDisplayMedia unavailable', 'NotSupportedError');
        const stream = await md.getDisplayMedia({ video: true, audio: false });
        return stream.getVideoTracks()[0] ?? null;
    }
    /** Open another camera or microphone; the new track keeps the old one's enabled state. */
    async openDevice(kind, deviceId) {
        const md = globalThis.navigator?.mediaDevices;
        if (!md?.getUserMedia)
            throw new DOMException('getUserMedia unavailable', 'NotSupportedError');
        const old = kind === 'audio' ? this.audioTrack : this.cameraTrack;
        const stream = await md.getUserMedia({ [kind]: { deviceId: { exact: deviceId } } });
        const track = stream.getTracks()[0];
        if (!track)
            return null;
        if (old)
            track.enabled = old.enabled;
        this.allTracks.add(track);
        const keep = this.camStream?.getTracks().filter((t) => t.kind !== track.kind) ?? [];
        this.camStream = new MediaStream([...keep, track]);
        return { track, old };
    }
    /** Stop every local track and forget them as this call's media. */
    release() {
        for (const t of this.allTracks)
            t.stop();
        this.camStream?.getTracks().forEach((t) => t.stop());
        this.screenTrack?.stop();
        this.camStream = null;
        this.screenTrack = null;
    }
}
