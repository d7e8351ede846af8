;; JSON string escaping, 16 bytes at a time (SIMD): the bytes JSON.stringify gives for the text of a line.
;; Source of src/arena/json-escape-wasm.ts (`npm run build:wasm`; a unit test checks the two agree).
;; Memory is the caller's (imported); its first 64 bytes hold the tables below and are not for data.
(module
  (import "env" "memory" (memory 1))
  ;; 0..31: the letter of the short escape of each control byte (\b \t \n \f \r), 0 for \u00xx.
  (data (i32.const 0) "\00\00\00\00\00\00\00\00btn\00fr\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00")
  ;; 32..47: hexadecimal digits for \u00xx.
  (data (i32.const 32) "0123456789abcdef")

  ;; Writes the escaped bytes of [src, end) at dst and returns where they end. `high` 0: returns -1 at the
  ;; first byte at or above 0x80 (the caller checks the line is valid UTF-8, then calls again with 1);
  ;; `high` 1: such bytes are copied as they are. dst needs room for 6 bytes per input byte.
  (func (export "escape") (param $src i32) (param $end i32) (param $dst i32) (param $high i32) (result i32)
    (local $v v128) (local $m i32) (local $c i32)
    (local $flip v128) (local $limit v128) (local $quote v128) (local $backslash v128)
    ;; A byte to escape: below 0x20, a quote, a backslash, and with `high` 0 any byte at or above 0x80.
    ;; One signed compare does both ends: x < 0x20 (signed) when high is 0; (x ^ 0x80) < (0x20 ^ 0x80)
    ;; (signed), that is x < 0x20 unsigned, when high is 1. The vectors live in locals, out of the loop.
    (local.set $flip (i8x16.splat (i32.shl (local.get $high) (i32.const 7))))
    (local.set $limit (v128.xor (i8x16.splat (i32.const 32)) (local.get $flip)))
    (local.set $quote (i8x16.splat (i32.const 34)))
    (local.set $backslash (i8x16.splat (i32.const 92)))
    (loop $next
      ;; 16 bytes at a time: stored as they are, then the first byte to escape (if any) is handled alone.
      (block $scalar
        (loop $simd
          (br_if $scalar (i32.gt_u (i32.add (local.get $src) (i32.const 16)) (local.get $end)))
          (local.set $v (v128.load align=1 (local.get $src)))
          (v128.store align=1 (local.get $dst) (local.get $v))
          (local.set $m (i8x16.bitmask
            (v128.or
              (v128.or
                (i8x16.lt_s (v128.xor (local.get $v) (local.get $flip)) (local.get $limit))
                (i8x16.eq (local.get $v) (local.get $quote)))
              (i8x16.eq (local.get $v) (local.get $backslash)))))
          (if (local.get $m)
            (then
              (local.set $m (i32.ctz (local.get $m)))
              (local.set $src (i32.add (local.get $src) (local.get $m)))
              (local.set $dst (i32.add (local.get $dst) (local.get $m)))
              (br $scalar)))
          (local.set $src (i32.add (local.get $src) (i32.const 16)))
          (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
          (br $simd)))
      ;; One byte.
      (if (i32.ge_u (local.get $src) (local.get $end)) (then (return (local.get $dst))))
      (local.set $c (i32.load8_u (local.get $src)))
      (local.set $src (i32.add (local.get $src) (i32.const 1)))
      (if (i32.ge_u (local.get $c) (i32.const 0x80))
        (then
          (if (i32.eqz (local.get $high)) (then (return (i32.const -1))))
          (i32.store8 (local.get $dst) (local.get $c))
          (local.set $dst (i32.add (local.get $dst) (i32.const 1)))
          (br $next)))
      (if (i32.lt_u (local.get $c) (i32.const 32))
        (then
          (i32.store8 (local.get $dst) (i32.const 92))
          (local.set $m (i32.load8_u (local.get $c)))
          (if (local.get $m)
            (then
              (i32.store8 offset=1 (local.get $dst) (local.get $m))
              (local.set $dst (i32.add (local.get $dst) (i32.const 2))))
            (else
              ;; \u00xx
              (i32.store16 offset=1 (local.get $dst) (i32.const 0x3075))
              (i32.store8 offset=3 (local.get $dst) (i32.const 0x30))
              (i32.store8 offset=4 (local.get $dst) (i32.load8_u offset=32 (i32.shr_u (local.get $c) (i32.const 4))))
              (i32.store8 offset=5 (local.get $dst) (i32.load8_u offset=32 (i32.and (local.get $c) (i32.const 15))))
              (local.set $dst (i32.add (local.get $dst) (i32.const 6)))))
          (br $next)))
      (if (i32.or (i32.eq (local.get $c) (i32.const 34)) (i32.eq (local.get $c) (i32.const 92)))
        (then
          (i32.store8 (local.get $dst) (i32.const 92))
          (i32.store8 offset=1 (local.get $dst) (local.get $c))
          (local.set $dst (i32.add (local.get $dst) (i32.const 2))))
        (else
          (i32.store8 (local.get $dst) (local.get $c))
          (local.set $dst (i32.add (local.get $dst) (i32.const 1)))))
      (br $next))
    (unreachable))
)
