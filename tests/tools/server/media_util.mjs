// Media files made at test time for the multimodal server tests: PNG images and WAV clips
// written byte by byte from their format specifications (PNG: RFC 2083; WAV: RIFF/WAVE), and
// the soft-token counts the Gemma 4 spec gives for them (spec/gemma4-io.md §4.2, §5.1, §5.5).
import zlib from 'node:zlib';

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; ++n) {
    let c = n;
    for (let k = 0; k < 8; ++k) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type, data) {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'latin1');
  data.copy(out, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function ihdr(width, height) {
  const h = Buffer.alloc(13);
  h.writeUInt32BE(width, 0);
  h.writeUInt32BE(height, 4);
  h[8] = 8;  // bit depth
  h[9] = 2;  // colour type RGB
  return chunk('IHDR', h);
}

// An 8-bit RGB PNG with a smooth colour pattern.
export function makePng(width, height) {
  const raw = Buffer.alloc(height * (1 + 3 * width));
  for (let y = 0; y < height; ++y) {
    const row = y * (1 + 3 * width);
    for (let x = 0; x < width; ++x) {
      raw[row + 1 + 3 * x] = (x * 255 / Math.max(1, width - 1)) | 0;
      raw[row + 2 + 3 * x] = (y * 255 / Math.max(1, height - 1)) | 0;
      raw[row + 3 + 3 * x] = ((x + y) * 7) & 255;
    }
  }
  return Buffer.concat([PNG_SIGNATURE, ihdr(width, height), chunk('IDAT', zlib.deflateSync(raw)),
                        chunk('IEND', Buffer.alloc(0))]);
}

// A well-formed PNG header that claims width x height, followed by a few bytes of pixel data:
// a decoder that trusts the header allocates width·height·3 bytes.
export function makeClaimingPng(width, height) {
  return Buffer.concat([PNG_SIGNATURE, ihdr(width, height), chunk('IDAT', zlib.deflateSync(Buffer.alloc(64))),
                        chunk('IEND', Buffer.alloc(0))]);
}

// A WAV file: `format` 1 is integer PCM (bits 8 or 16); other format tags make a header for a
// codec the file does not really hold.
export function makeWav({ rate, channels = 1, seconds, bits = 16, format = 1, frequency = 440 }) {
  const frames = Math.round(rate * seconds);
  const bytesPerSample = bits / 8;
  const data = Buffer.alloc(frames * channels * bytesPerSample);
  for (let i = 0; i < frames; ++i) {
    const v = 0.5 * Math.sin(2 * Math.PI * frequency * i / rate);
    for (let c = 0; c < channels; ++c) {
      const at = (i * channels + c) * bytesPerSample;
      if (bits === 16) data.writeInt16LE(Math.round(v * 32767), at);
      else data[at] = Math.round(128 + v * 127);
    }
  }
  const header = Buffer.alloc(44);
  header.write('RIFF', 0, 'latin1');
  header.writeUInt32LE(36 + data.length, 4);
  header.write('WAVEfmt ', 8, 'latin1');
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(format, 20);
  header.writeUInt16LE(channels, 22);
  header.writeUInt32LE(rate, 24);
  header.writeUInt32LE(rate * channels * bytesPerSample, 28);
  header.writeUInt16LE(channels * bytesPerSample, 32);
  header.writeUInt16LE(bits, 34);
  header.write('data', 36, 'latin1');
  header.writeUInt32LE(data.length, 40);
  return Buffer.concat([header, data]);
}

// §4.2: the soft tokens of a height x width image under a budget (Hugging Face's resize rule).
export function imageSoftTokens(height, width, budget) {
  const factor = Math.sqrt(budget * 9 * 256 / (height * width));
  let h = Math.floor(factor * height / 48) * 48;
  let w = Math.floor(factor * width / 48) * 48;
  if (h === 0) { h = 48; w = Math.min(Math.floor(width / height) * 48, budget * 48); }
  if (w === 0) { w = 48; h = Math.min(Math.floor(height / width) * 48, budget * 48); }
  return (h / 48) * (w / 48);
}

// §5.1 and §5.5: the soft tokens of `samples` samples at 16 kHz.
export function audioSoftTokens(samples) {
  const frames = samples < 161 ? 0 : Math.floor((samples - 161) / 160) + 1;
  return Math.min(750, Math.ceil(Math.ceil(frames / 2) / 2));
}

export const dataUrl = (mime, bytes) => `data:${mime};base64,${Buffer.from(bytes).toString('base64')}`;
export const imagePart = (url) => ({ type: 'image_url', image_url: { url } });
export const audioPart = (bytes, format = 'wav') =>
  ({ type: 'input_audio', input_audio: { data: Buffer.from(bytes).toString('base64'), format } });
