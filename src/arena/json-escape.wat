;; ndjson records of lines framed by src/frame/line-framer.ts: JSON string escaping 16 bytes at a time
;; (SIMD), the bytes the reference encoder (src/sinks/ndjson.ts) gives, with the record's other pieces around
;; the message. Source of src/arena/json-escape-wasm.ts (`npm run build:wasm`; a unit test checks the two agree).
;; Memory is the caller's (imported); its first 320 bytes hold the tables below and the result of `records`
;; (at 48: where its records end), and are not for data.
(module
  (import "env" "memory" (memory 1))
  ;; 0..31: the letter of the short escape of each control byte (\b \t \n \f \r), 0 for \u00xx.
  (data (i32.const 0) "\00\00\00\00\00\00\00\00btn\00fr\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00")
  ;; 32..47: hexadecimal digits for \u00xx.
  (data (i32.const 32) "0123456789abcdef")
  ;; 64..263: the two digits of 0..99, for writing numbers two digits at a time.
  (data (i32.const 64) "00010203040506070809101112131415161718192021222324252627282930313233343536373839404142434445464748495051525354555657585960616263646566676869707172737475767778798081828384858687888990919293949596979899")

  ;; One byte below 0x80 at dst as JSON.stringify writes it: \b \t \n \f \r, \u00xx for the other control
  ;; bytes, \" and \\, else the byte itself; returns the end.
  (func $escape_byte (param $dst i32) (param $c i32) (result i32)
    (local $short i32)
    (if (i32.lt_u (local.get $c) (i32.const 32))
      (then
        (i32.store8 (local.get $dst) (i32.const 92))
        (local.set $short (i32.load8_u (local.get $c)))
        (if (local.get $short)
          (then
            (i32.store8 offset=1 (local.get $dst) (local.get $short))
            (return (i32.add (local.get $dst) (i32.const 2)))))
        (i32.store16 offset=1 (local.get $dst) (i32.const 0x3075))
        (i32.store8 offset=3 (local.get $dst) (i32.const 0x30))
        (i32.store8 offset=4 (local.get $dst) (i32.load8_u offset=32 (i32.shr_u (local.get $c) (i32.const 4))))
        (i32.store8 offset=5 (local.get $dst) (i32.load8_u offset=32 (i32.and (local.get $c) (i32.const 15))))
        (return (i32.add (local.get $dst) (i32.const 6)))))
    (if (i32.or (i32.eq (local.get $c) (i32.const 34)) (i32.eq (local.get $c) (i32.const 92)))
      (then
        (i32.store8 (local.get $dst) (i32.const 92))
        (i32.store8 offset=1 (local.get $dst) (local.get $c))
        (return (i32.add (local.get $dst) (i32.const 2)))))
    (i32.store8 (local.get $dst) (local.get $c))
    (i32.add (local.get $dst) (i32.const 1)))

  ;; Decimal digits of n at p; returns their end.
  (func $digits (param $p i32) (param $n i64) (result i32)
    (local $hi i32) (local $lo i32) (local $end i32)
    (if (i64.lt_u (local.get $n) (i64.const 1000000000))
      (then (return (call $digits32 (local.get $p) (i32.wrap_i64 (local.get $n))))))
    ;; n >= 10^9 (a file past 1 GB): the high part, then the low nine digits, zero-padded.
    (local.set $hi (i32.wrap_i64 (i64.div_u (local.get $n) (i64.const 1000000000))))
    (local.set $lo (i32.wrap_i64 (i64.rem_u (local.get $n) (i64.const 1000000000))))
    (local.set $p (call $digits32 (local.get $p) (local.get $hi)))
    (local.set $end (i32.add (local.get $p) (i32.const 9)))
    (loop $nine
      (local.set $end (i32.sub (local.get $end) (i32.const 1)))
      (i32.store8 (local.get $end) (i32.add (i32.const 48) (i32.rem_u (local.get $lo) (i32.const 10))))
      (local.set $lo (i32.div_u (local.get $lo) (i32.const 10)))
      (br_if $nine (i32.gt_u (local.get $end) (local.get $p))))
    (i32.add (local.get $p) (i32.const 9)))

  ;; Decimal digits of an unsigned 32-bit n at p; returns their end. The length from comparisons, then two
  ;; digits per division from the table at 64: a division per digit, to count and again to write, was a
  ;; large share of a line's cost (figures: docs/performance.md).
  (func $digits32 (param $p i32) (param $n i32) (result i32)
    (local $len i32) (local $q i32) (local $end i32)
    (local.set $len
      (if (result i32) (i32.lt_u (local.get $n) (i32.const 100000))
        (then
          (if (result i32) (i32.lt_u (local.get $n) (i32.const 100))
            (then (i32.add (i32.const 1) (i32.ge_u (local.get $n) (i32.const 10))))
            (else
              (i32.add (i32.const 3)
                (i32.add (i32.ge_u (local.get $n) (i32.const 1000)) (i32.ge_u (local.get $n) (i32.const 10000)))))))
        (else
          (i32.add (i32.const 6)
            (i32.add
              (i32.add (i32.ge_u (local.get $n) (i32.const 1000000)) (i32.ge_u (local.get $n) (i32.const 10000000)))
              (i32.add (i32.ge_u (local.get $n) (i32.const 100000000)) (i32.ge_u (local.get $n) (i32.const 1000000000))))))))
    (local.set $end (i32.add (local.get $p) (local.get $len)))
    (local.set $p (local.get $end))
    (block $small
      (loop $pairs
        (br_if $small (i32.lt_u (local.get $n) (i32.const 100)))
        (local.set $q (i32.div_u (local.get $n) (i32.const 100)))
        (local.set $p (i32.sub (local.get $p) (i32.const 2)))
        (i32.store16 align=1 (local.get $p)
          (i32.load16_u offset=64 align=1
            (i32.shl (i32.sub (local.get $n) (i32.mul (local.get $q) (i32.const 100))) (i32.const 1))))
        (local.set $n (local.get $q))
        (br $pairs)))
    ;; one or two digits left
    (if (i32.ge_u (local.get $n) (i32.const 10))
      (then
        (i32.store16 align=1 (i32.sub (local.get $p) (i32.const 2))
          (i32.load16_u offset=64 align=1 (i32.shl (local.get $n) (i32.const 1)))))
      (else
        (i32.store8 (i32.sub (local.get $p) (i32.const 1)) (i32.add (i32.const 48) (local.get $n)))))
    (local.get $end))

  ;; The pieces of a record before its message at dst: head, the offset's digits, the id's prefix, the same
  ;; digits, mid (`","message":"`); returns their end. `pieces`: four i32 lengths (head, id, mid, tail), from
  ;; pieces+32 their bytes one after the other.
  (func $head (param $dst i32) (param $pieces i32) (param $offset i64) (result i32)
    (local $at i32) (local $len i32) (local $digits i32) (local $n i32)
    (local.set $at (i32.add (local.get $pieces) (i32.const 32)))
    (local.set $len (i32.load (local.get $pieces)))
    (memory.copy (local.get $dst) (local.get $at) (local.get $len))
    (local.set $at (i32.add (local.get $at) (local.get $len)))
    (local.set $digits (i32.add (local.get $dst) (local.get $len)))
    (local.set $dst (call $digits (local.get $digits) (local.get $offset)))
    (local.set $n (i32.sub (local.get $dst) (local.get $digits)))
    (local.set $len (i32.load offset=4 (local.get $pieces)))
    (memory.copy (local.get $dst) (local.get $at) (local.get $len))
    (local.set $at (i32.add (local.get $at) (local.get $len)))
    (local.set $dst (i32.add (local.get $dst) (local.get $len)))
    (memory.copy (local.get $dst) (local.get $digits) (local.get $n))
    (local.set $dst (i32.add (local.get $dst) (local.get $n)))
    (local.set $len (i32.load offset=8 (local.get $pieces)))
    (memory.copy (local.get $dst) (local.get $at) (local.get $len))
    (i32.add (local.get $dst) (local.get $len)))

  ;; Where the tail's bytes are among the pieces: after head, id and mid.
  (func $tail_at (param $pieces i32) (result i32)
    (i32.add (i32.add (local.get $pieces) (i32.const 32))
      (i32.add (i32.load (local.get $pieces))
        (i32.add (i32.load offset=4 (local.get $pieces)) (i32.load offset=8 (local.get $pieces))))))

  ;; The length of the UTF-8 character at p (a lead byte at or above 0x80) when it is valid and ends before
  ;; `end`, else 0: no overlong forms, no surrogates, nothing past U+10FFFF (what `isUtf8` accepts).
  (func $utf8_len (param $p i32) (param $end i32) (result i32)
    (local $c i32) (local $lo i32) (local $hi i32) (local $n i32)
    (local.set $c (i32.load8_u (local.get $p)))
    (if (i32.lt_u (local.get $c) (i32.const 0xc2)) (then (return (i32.const 0))))
    (local.set $lo (i32.const 0x80))
    (local.set $hi (i32.const 0xbf))
    (if (i32.lt_u (local.get $c) (i32.const 0xe0))
      (then (local.set $n (i32.const 2)))
      (else
        (if (i32.lt_u (local.get $c) (i32.const 0xf0))
          (then
            (local.set $n (i32.const 3))
            (if (i32.eq (local.get $c) (i32.const 0xe0)) (then (local.set $lo (i32.const 0xa0))))
            (if (i32.eq (local.get $c) (i32.const 0xed)) (then (local.set $hi (i32.const 0x9f)))))
          (else
            (if (i32.ge_u (local.get $c) (i32.const 0xf5)) (then (return (i32.const 0))))
            (local.set $n (i32.const 4))
            (if (i32.eq (local.get $c) (i32.const 0xf0)) (then (local.set $lo (i32.const 0x90))))
            (if (i32.eq (local.get $c) (i32.const 0xf4)) (then (local.set $hi (i32.const 0x8f))))))))
    (if (i32.gt_u (i32.add (local.get $p) (local.get $n)) (local.get $end)) (then (return (i32.const 0))))
    ;; the second byte within [lo, hi], the others continuation bytes
    (local.set $c (i32.load8_u offset=1 (local.get $p)))
    (if (i32.or (i32.lt_u (local.get $c) (local.get $lo)) (i32.gt_u (local.get $c) (local.get $hi)))
      (then (return (i32.const 0))))
    (if (i32.ge_u (local.get $n) (i32.const 3))
      (then
        (if (i32.ne (i32.and (i32.load8_u offset=2 (local.get $p)) (i32.const 0xc0)) (i32.const 0x80))
          (then (return (i32.const 0))))))
    (if (i32.eq (local.get $n) (i32.const 4))
      (then
        (if (i32.ne (i32.and (i32.load8_u offset=3 (local.get $p)) (i32.const 0xc0)) (i32.const 0x80))
          (then (return (i32.const 0))))))
    (local.get $n))

;; The records of `count` lines at dst, one after another; returns how many were written. The lines are
  ;; framed by the caller: `lines` holds, per line, its start and end (i32 pairs, the end without the line
  ;; ending) as offsets from `src`, whose file offset is `offset`. Stops before a line that is not valid
  ;; UTF-8 (the caller's decoder replaces what is invalid) and before a record that would pass `limit`. A
  ;; record is written whole or not at all. It may write up to 16 KiB past `limit` before it stops (pieces of
  ;; at most 8 KiB, a block of 16, the tail): dst needs that much more room. Result at 48: where the records
  ;; end.
  (func (export "records") (param $src i32) (param $lines i32) (param $count i32) (param $dst i32)
    (param $limit i32) (param $offset f64) (param $pieces i32) (result i32)
    (local $n i32) (local $at i32) (local $end i32) (local $rec i32) (local $off i64)
    (local $c i32) (local $m i32) (local $tail_at i32) (local $tail_len i32)
    (local $v v128) (local $space v128) (local $quote v128) (local $backslash v128) (local $last i32)
    (local.set $tail_len (i32.load offset=12 (local.get $pieces)))
    (local.set $tail_at (call $tail_at (local.get $pieces)))
    (local.set $off (i64.trunc_sat_f64_u (local.get $offset)))
    ;; the last address a 16-byte load may start at
    (local.set $last (i32.sub (i32.shl (memory.size) (i32.const 16)) (i32.const 16)))
    (local.set $space (i8x16.splat (i32.const 32)))
    (local.set $quote (i8x16.splat (i32.const 34)))
    (local.set $backslash (i8x16.splat (i32.const 92)))
    (block $done
      (loop $each
        (br_if $done (i32.ge_u (local.get $n) (local.get $count)))
        (local.set $at (i32.load (i32.add (local.get $lines) (i32.shl (local.get $n) (i32.const 3)))))
        (local.set $end (i32.add (local.get $src)
          (i32.load offset=4 (i32.add (local.get $lines) (i32.shl (local.get $n) (i32.const 3))))))
        (local.set $rec (local.get $dst))
        (block $abort
          (br_if $abort (i32.gt_u (local.get $dst) (local.get $limit)))
          (local.set $dst (call $head (local.get $dst) (local.get $pieces)
            (i64.add (local.get $off) (i64.extend_i32_u (local.get $at)))))
          (local.set $at (i32.add (local.get $src) (local.get $at)))
          ;; the message: 16 bytes at a time, a byte below 0x20 (one to escape), at or above 0x80 (signed:
          ;; below 0x20 too), `"` or `\` handled alone
          (block $eol
            (loop $next
              (block $scalar
                (loop $simd
                  ;; The 16 bytes may run past the line's end (never past the memory's): the end stops the
                  ;; block like a byte to escape, and what was stored past it is overwritten.
                  (br_if $scalar (i32.gt_u (local.get $at) (local.get $last)))
                  (br_if $abort (i32.gt_u (local.get $dst) (local.get $limit)))
                  (local.set $v (v128.load align=1 (local.get $at)))
                  (v128.store align=1 (local.get $dst) (local.get $v))
                  (local.set $m (i8x16.bitmask
                    (v128.or
                      (v128.or
                        (i8x16.lt_s (local.get $v) (local.get $space))
                        (i8x16.eq (local.get $v) (local.get $quote)))
                      (i8x16.eq (local.get $v) (local.get $backslash)))))
                  (local.set $c (i32.sub (local.get $end) (local.get $at)))
                  (if (i32.lt_u (local.get $c) (i32.const 16))
                    (then (local.set $m (i32.or (local.get $m) (i32.shl (i32.const 1) (local.get $c))))))
                  (if (local.get $m)
                    (then
                      (local.set $m (i32.ctz (local.get $m)))
                      (local.set $at (i32.add (local.get $at) (local.get $m)))
                      (local.set $dst (i32.add (local.get $dst) (local.get $m)))
                      (br $scalar)))
                  (local.set $at (i32.add (local.get $at) (i32.const 16)))
                  (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
                  (br $simd)))
              ;; one byte
              (br_if $eol (i32.ge_u (local.get $at) (local.get $end)))
              (br_if $abort (i32.gt_u (local.get $dst) (local.get $limit)))
              (local.set $c (i32.load8_u (local.get $at)))
              ;; a multi-byte character, copied as it is when it is valid UTF-8 (else the line is left)
              (if (i32.ge_u (local.get $c) (i32.const 0x80))
                (then
                  (local.set $m (call $utf8_len (local.get $at) (local.get $end)))
                  (br_if $abort (i32.eqz (local.get $m)))
                  (memory.copy (local.get $dst) (local.get $at) (local.get $m))
                  (local.set $at (i32.add (local.get $at) (local.get $m)))
                  (local.set $dst (i32.add (local.get $dst) (local.get $m)))
                  (br $next)))
              (local.set $at (i32.add (local.get $at) (i32.const 1)))
              (local.set $dst (call $escape_byte (local.get $dst) (local.get $c)))
              (br $next)))
          ;; the tail (a line written here is never cut), found once per call
          (memory.copy (local.get $dst) (local.get $tail_at) (local.get $tail_len))
          (local.set $dst (i32.add (local.get $dst) (local.get $tail_len)))
          (br_if $abort (i32.gt_u (local.get $dst) (local.get $limit)))
          (local.set $n (i32.add (local.get $n) (i32.const 1)))
          (br $each))
        ;; not written: the caller goes on from this line
        (local.set $dst (local.get $rec))))
    (i32.store offset=48 (i32.const 0) (local.get $dst))
    (local.get $n))
)
