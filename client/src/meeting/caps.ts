/** The budget of one outgoing video stream. */
export interface VideoCap {
  /** bits per second */
  maxBitrate: number;
  /** the camera is scaled down to at most this height (screen shares keep theirs) */
  maxHeight: number;
}

/**
 * videoCap is the budget of one outgoing video copy when it goes to `peers` remote
 * participants: in a mesh every peer gets its own copy, so the uplink carries peers × bitrate.
 * The caps keep a 6-person mesh (5 copies) near 2 Mbit/s, within a home uplink.
 */
export function videoCap(peers: number): VideoCap {
  if (peers <= 1) return { maxBitrate: 1_500_000, maxHeight: 720 };
  if (peers === 2) return { maxBitrate: 1_000_000, maxHeight: 720 };
  if (peers === 3) return { maxBitrate: 600_000, maxHeight: 480 };
  if (peers <= 5) return { maxBitrate: 400_000, maxHeight: 360 };
  return { maxBitrate: 250_000, maxHeight: 270 };
}
