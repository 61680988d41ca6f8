// Byte scans that Swift cannot yet express with vector instructions: the JSON parser's
// search for the end of a plain run inside a string.
//
// Header-only (`static inline`), so the Swift compiler imports the body and can inline it
// into the parser's loop like a Swift function.
#ifndef TESSERA_CTEXTSCAN_H
#define TESSERA_CTEXTSCAN_H

#include <stdint.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/// The first byte in [from, end) that ends a plain run of a JSON string: a quote, a
/// backslash, a control byte (below 0x20), or, when `stopAtHigh` is nonzero, a byte above
/// 0x7f (the start of a UTF-8 sequence the caller validates). `end` when there is none.
///
/// With SSE2 (every x86-64 CPU) sixteen bytes are tested per step: three byte compares, one
/// mask each, one bit scan. Elsewhere, one byte at a time.
static inline const uint8_t *tessera_scan_plain(const uint8_t *from, const uint8_t *end, int stopAtHigh) {
    const uint8_t *p = from;
#if defined(__SSE2__)
    const __m128i quote = _mm_set1_epi8('"');
    const __m128i backslash = _mm_set1_epi8('\\');
    const __m128i lastControl = _mm_set1_epi8(0x1f);
    while (end - p >= 16) {
        const __m128i bytes = _mm_loadu_si128((const __m128i *)p);
        __m128i hits = _mm_or_si128(_mm_cmpeq_epi8(bytes, quote), _mm_cmpeq_epi8(bytes, backslash));
        // An unsigned byte is at most 0x1f exactly when the unsigned minimum leaves it as is.
        hits = _mm_or_si128(hits, _mm_cmpeq_epi8(_mm_min_epu8(bytes, lastControl), bytes));
        int mask = _mm_movemask_epi8(hits);
        if (stopAtHigh) mask |= _mm_movemask_epi8(bytes);
        if (mask != 0) return p + __builtin_ctz((unsigned)mask);
        p += 16;
    }
#endif
    while (p < end) {
        const uint8_t byte = *p;
        if (byte == '"' || byte == '\\' || byte < 0x20 || (stopAtHigh && byte >= 0x80)) break;
        p += 1;
    }
    return p;
}

#endif
