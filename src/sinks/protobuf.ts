// The few protobuf wire-format pieces OTLP needs: varints, length-delimited fields, fixed64, and a reader.
//
// The reader is for the small response messages. Messages are built inside out (a nested message is
// encoded first).

enum WireType {
  Varint = 0,
  Fixed64 = 1,
  Len = 2,
  Fixed32 = 5,
}

export class ProtoWriter {
  private buf: Buffer;
  private pos = 0;

  constructor(initial = 256) {
    this.buf = Buffer.allocUnsafe(initial);
  }

  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  private varint(v: number): void {
    this.room(10);
    while (v > 0x7f) {
      this.buf[this.pos++] = (v & 0x7f) | 0x80;
      v = Math.floor(v / 128);
    }
    this.buf[this.pos++] = v;
  }

  private tag(field: number, wire: WireType): void {
    this.varint((field << 3) | wire);
  }

  /** uint32/uint64/enum/int64 (non-negative, up to 2^53). */
  uint(field: number, v: number): this {
    if (v === 0) return this;
    this.tag(field, WireType.Varint);
    this.varint(v);
    return this;
  }

  /** A oneof member: written even when it is the default value. */
  bool(field: number, v: boolean): this {
    this.tag(field, WireType.Varint);
    this.varint(v ? 1 : 0);
    return this;
  }

  /** int64 as a oneof member (written even when 0; negative values as 10-byte two's complement). */
  int64(field: number, v: number): this {
    this.tag(field, WireType.Varint);
    if (v >= 0) {
      this.varint(v);
      return this;
    }
    let u = BigInt.asUintN(64, BigInt(v));
    this.room(10);
    while (u > 0x7fn) {
      this.buf[this.pos++] = Number(u & 0x7fn) | 0x80;
      u >>= 7n;
    }
    this.buf[this.pos++] = Number(u);
    return this;
  }

  /** double as a oneof member. */
  double(field: number, v: number): this {
    this.tag(field, WireType.Fixed64);
    this.room(8);
    this.buf.writeDoubleLE(v, this.pos);
    this.pos += 8;
    return this;
  }

  /** fixed64 of a non-negative bigint (nanosecond timestamps). */
  fixed64(field: number, v: bigint): this {
    if (v === 0n) return this;
    this.tag(field, WireType.Fixed64);
    this.room(8);
    this.buf.writeBigUInt64LE(v, this.pos);
    this.pos += 8;
    return this;
  }

  string(field: number, s: string, always = false): this {
    if (s.length === 0 && !always) return this;
    const n = Buffer.byteLength(s, 'utf8');
    this.tag(field, WireType.Len);
    this.varint(n);
    this.room(n);
    this.buf.write(s, this.pos, n, 'utf8');
    this.pos += n;
    return this;
  }

  /** A nested message, already encoded (written even when empty: presence matters for messages). */
  bytes(field: number, b: Buffer): this {
    this.tag(field, WireType.Len);
    this.varint(b.length);
    this.room(b.length);
    b.copy(this.buf, this.pos);
    this.pos += b.length;
    return this;
  }

  finish(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}

export interface ProtoField {
  field: number;
  wire: number;
  /** Varint value (as a number; exact up to 2^53) for wire type 0. */
  num?: number;
  /** Payload for wire type 2. */
  bytes?: Buffer;
}

/** Top-level fields of one message; throws on malformed input. */
export function readFields(buf: Buffer): ProtoField[] {
  const out: ProtoField[] = [];
  let pos = 0;
  const varint = (): number => {
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (pos >= buf.length) throw new Error('truncated varint');
      const b = buf[pos++]!;
      result += (b & 0x7f) * mul;
      if ((b & 0x80) === 0) return result;
      mul *= 128;
    }
    throw new Error('varint too long');
  };
  while (pos < buf.length) {
    const key = varint();
    const field = Math.floor(key / 8);
    const wire = key & 7;
    if (wire === WireType.Varint) out.push({ field, wire, num: varint() });
    else if (wire === WireType.Len) {
      const n = varint();
      if (pos + n > buf.length) throw new Error('truncated field');
      out.push({ field, wire, bytes: buf.subarray(pos, pos + n) });
      pos += n;
    } else if (wire === WireType.Fixed64) pos += 8;
    else if (wire === WireType.Fixed32) pos += 4;
    else throw new Error(`unsupported wire type ${wire}`);
  }
  return out;
}
