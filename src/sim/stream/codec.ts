// Wire encodings of the market-data stream: msgpack (T first, timestamps as the nanosecond timestamp extension, type -1)
// and JSON text (timestamps as RFC 3339 with 9 fractional digits). Messages are encoded once and spliced into arrays.
import { Encoder, ExtensionCodec, EXT_TIMESTAMP, decode, encodeTimeSpecToTimestamp } from '@msgpack/msgpack';
import { formatRfc3339Nanos } from '../market/time.js';

const NS = 1_000_000_000n;

/** Encodes bigint nanoseconds as the msgpack timestamp extension (32/64/96-bit format as the value needs). */
export const streamExtensionCodec = new ExtensionCodec();
streamExtensionCodec.register({
  type: EXT_TIMESTAMP,
  encode: (value: unknown) => {
    if (typeof value !== 'bigint') return null;
    let sec = value / NS;
    let nsec = value % NS;
    if (nsec < 0n) {
      nsec += NS;
      sec -= 1n;
    }
    return encodeTimeSpecToTimestamp({ sec: Number(sec), nsec: Number(nsec) });
  },
  decode: (data: Uint8Array) => data,
});

const encoder = new Encoder({ extensionCodec: streamExtensionCodec });

/** One message (a map whose keys keep the object's insertion order, so `T` built first stays first). */
export function encodeMsgpack(message: object): Uint8Array {
  return encoder.encode(message);
}

/** A msgpack array of already-encoded elements (same bytes as encoding the array in one go). */
export function msgpackArray(parts: readonly Uint8Array[]): Buffer {
  const n = parts.length;
  let header: Buffer;
  if (n < 16) header = Buffer.from([0x90 | n]);
  else if (n < 0x10000) {
    header = Buffer.allocUnsafe(3);
    header[0] = 0xdc;
    header.writeUInt16BE(n, 1);
  } else {
    header = Buffer.allocUnsafe(5);
    header[0] = 0xdd;
    header.writeUInt32BE(n, 1);
  }
  let size = header.length;
  for (const p of parts) size += p.length;
  const out = Buffer.allocUnsafe(size);
  header.copy(out, 0);
  let pos = header.length;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.length;
  }
  return out;
}

function jsonReplacer(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? formatRfc3339Nanos(value) : value;
}

/** One message as JSON (bigint timestamps → RFC 3339 with nanoseconds). */
export function encodeJson(message: object): string {
  return JSON.stringify(message, jsonReplacer);
}

export function jsonArray(parts: readonly string[]): string {
  return `[${parts.join(',')}]`;
}

/** Decodes a client frame: msgpack for binary frames, JSON for text frames. Throws on malformed input. */
export function decodeClientFrame(data: Buffer, isBinary: boolean): unknown {
  if (isBinary) return decode(data);
  return JSON.parse(data.toString('utf8'));
}
