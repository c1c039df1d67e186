// Pure helpers on serialised frames: relabelling a frame's freshness without parsing it (see docs/gateway-hub.md).

/** The tail every frame ends with, as the feed's publish script appends it. */
const LIVE_TAIL = /"src":"(?:rt|delayed)","seq":(\d+)\}$/;

/**
 * Relabels a real-time or delayed frame as last-known-good (`"src":"lkg"`), keeping its seq, by rewriting only the
 * tail. Returns null for a frame without the expected tail: a frame whose freshness label cannot be set must not be
 * sent (data licensing).
 */
export function relabelAsLkg(frame: string): string | null {
  const m = LIVE_TAIL.exec(frame);
  if (m === null) return null;
  return `${frame.slice(0, m.index)}"src":"lkg","seq":${m[1]}}`;
}

/** Packs frames into one JSON array text by concatenation (frames are never parsed or re-serialised). */
export function packFrames(frames: readonly string[]): string {
  return `[${frames.join(',')}]`;
}
