// AMX-BF16 kernels: see include/CSKEAMX.h. Tile registers: tmm0/tmm3 = 16×16 f32 accumulators, tmm1 = 16 weight
// rows × 32 bf16, tmm2/tmm4 = 16 value pairs × 16 tokens × 2 bf16. One TDPBF16PS = 16·16·32 multiply-adds.
#include "CSKEAMX.h"
#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA 18

int ske_amx_bf16_available(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    if (!(d & (1u << 22)) || !(d & (1u << 24))) return 0;          // AMX-BF16, AMX-TILE
    if (!__get_cpuid_count(7, 1, &a, &b, &c, &d) || !(a & (1u << 5))) return 0;  // AVX512-BF16
    return syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0;
}

__attribute__((target("avx512f,avx512bf16")))
void ske_amx_pack_rows_bf16(const float *x, int n, int k, int ld, uint16_t *out) {
    for (int c = 0; c < k / 32; c++) {
        for (int i = 0; i < 16; i++) {
            uint16_t *o = out + ((size_t)c * 16 + i) * 32;
            if (i < n) {
                const float *r = x + (size_t)i * ld + (size_t)c * 32;
                __m512bh v = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(r + 16), _mm512_loadu_ps(r));
                _mm512_storeu_si512(o, (__m512i)v);
            } else {
                memset(o, 0, 64);
            }
        }
    }
}

typedef struct {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} __attribute__((packed)) tile_config;

// r[i][e] → r[e][i] for a 16×16 matrix of 32-bit lanes held in 16 registers: four butterfly stages, each swapping
// the off-diagonal b×b blocks of row pairs (i, i + b) with two-source permutes.
__attribute__((target("avx512f")))
static inline void transpose16(__m512i r[16]) {
    for (int b = 8; b >= 1; b >>= 1) {
        int lo[16], hi[16];
        for (int e = 0; e < 16; e++) {
            lo[e] = (e & b) ? 16 + e - b : e;
            hi[e] = (e & b) ? 16 + e : e + b;
        }
        __m512i ilo = _mm512_loadu_si512(lo), ihi = _mm512_loadu_si512(hi);
        for (int i = 0; i < 16; i++) {
            if (i & b) continue;
            __m512i a = r[i], c = r[i + b];
            r[i] = _mm512_permutex2var_epi32(a, ilo, c);
            r[i + b] = _mm512_permutex2var_epi32(a, ihi, c);
        }
    }
}

// Tile 0 (rows × 16 tokens of f32) → Y[token][row] for the block's first `n` tokens (see ske_amx_bf16_block).
__attribute__((target("avx512f")))
static inline void store_tile(const float *tile, float *y, int ldy, int rows, int n, int accumulate) {
    // The tile is [weight row][token]; Y is [token][row]: transpose in registers, store each token's rows.
    __m512i r[16];
    for (int i = 0; i < 16; i++) r[i] = _mm512_loadu_si512(tile + i * 16);
    transpose16(r);
    __mmask16 m = (__mmask16)((1u << rows) - 1);
    for (int j = 0; j < n; j++) {
        float *yr = y + (size_t)j * ldy;
        __m512 v = _mm512_castsi512_ps(r[j]);
        if (accumulate) v = _mm512_add_ps(_mm512_maskz_loadu_ps(m, yr), v);
        _mm512_mask_storeu_ps(yr, m, v);
    }
}

// Token blocks are taken two at a time (tiles 0 and 3 accumulate, 2 and 4 hold their tokens) so each weight tile
// loaded serves two products; an odd last block runs alone.
__attribute__((target("amx-tile,amx-bf16,avx512f")))
void ske_amx_bf16_block(const uint16_t *w, const uint16_t *x, int tokenBlocks, int chunks,
                        float *y, int ldy, int rows, int tokens, int accumulate) {
    tile_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int t = 0; t < 5; t++) { cfg.rows[t] = 16; cfg.colsb[t] = 64; }
    _tile_loadconfig(&cfg);
    float tile[16 * 16];
    int tb = 0;
    for (; tb + 2 <= tokenBlocks; tb += 2) {
        _tile_zero(0);
        _tile_zero(3);
        const uint16_t *x0 = x + (size_t)tb * chunks * 512, *x1 = x0 + (size_t)chunks * 512;
        for (int c = 0; c < chunks; c++) {
            _tile_loadd(1, w + (size_t)c * 512, 64);
            _tile_loadd(2, x0 + (size_t)c * 512, 64);
            _tile_loadd(4, x1 + (size_t)c * 512, 64);
            _tile_dpbf16ps(0, 1, 2);
            _tile_dpbf16ps(3, 1, 4);
        }
        int n0 = tokens - tb * 16 < 16 ? tokens - tb * 16 : 16;
        int n1 = tokens - (tb + 1) * 16 < 16 ? tokens - (tb + 1) * 16 : 16;
        _tile_stored(0, tile, 64);
        store_tile(tile, y + (size_t)tb * 16 * ldy, ldy, rows, n0, accumulate);
        _tile_stored(3, tile, 64);
        store_tile(tile, y + (size_t)(tb + 1) * 16 * ldy, ldy, rows, n1, accumulate);
    }
    if (tb < tokenBlocks) {
        _tile_zero(0);
        const uint16_t *xb = x + (size_t)tb * chunks * 512;
        for (int c = 0; c < chunks; c++) {
            _tile_loadd(1, w + (size_t)c * 512, 64);
            _tile_loadd(2, xb + (size_t)c * 512, 64);
            _tile_dpbf16ps(0, 1, 2);
        }
        _tile_stored(0, tile, 64);
        store_tile(tile, y + (size_t)tb * 16 * ldy, ldy, rows, tokens - tb * 16, accumulate);
    }
    _tile_release();
}
#else
int ske_amx_bf16_available(void) { return 0; }
void ske_amx_pack_rows_bf16(const float *x, int n, int k, int ld, uint16_t *out) { (void)x; (void)n; (void)k; (void)ld; (void)out; }
void ske_amx_bf16_block(const uint16_t *w, const uint16_t *x, int tokenBlocks, int chunks, float *y, int ldy, int rows, int tokens, int accumulate) {
    (void)w; (void)x; (void)tokenBlocks; (void)chunks; (void)y; (void)ldy; (void)rows; (void)tokens; (void)accumulate;
}
#endif
