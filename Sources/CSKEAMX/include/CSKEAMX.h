// AMX tile kernels (Intel Advanced Matrix Extensions), in C because Swift cannot emit tile instructions: their
// intrinsics are C macros over builtins with immediate tile numbers; beside them the bf16 weight-row rounding and the
// tile-result store (a register transpose). Everything else about the AMX path (token packing,
// threading, dispatch, tests) is Swift (SKEKernels/AMXGemm.swift).
#ifndef CSKEAMX_H
#define CSKEAMX_H
#include <stdint.h>

/// 1 when the CPU has AMX-TILE and AMX-BF16 (and AVX512-BF16 for the packing) and the kernel grants this process
/// the tile data state (arch_prctl ARCH_REQ_XCOMP_PERM); else 0. Safe to call on any x86-64 CPU.
int ske_amx_bf16_available(void);

/// n × k f32 rows (row stride ld floats) → bf16 tiles laid out for the tile product's first operand: for each
/// 32-value chunk c, 16 rows × 32 bf16 (rows ≥ n are zero). k must be a multiple of 32. Round to nearest even.
void ske_amx_pack_rows_bf16(const float *x, int n, int k, int ld, uint16_t *out);

/// Y[token, row] (+)= Σ_k W[row, k]·X[token, k] for one block of 16 weight rows (`w`, from ske_amx_pack_rows_bf16)
/// against `tokenBlocks` blocks of 16 tokens (`x`, from AMXGemm.packTokens: per 32-value chunk, 16 rows of value
/// pairs × 16 tokens × 2 bf16), f32 accumulation in the tile.
/// Only `rows` weight rows and `tokens` tokens are written; Y's row stride is ldy floats.
void ske_amx_bf16_block(const uint16_t *w, const uint16_t *x, int tokenBlocks, int chunks,
                        float *y, int ldy, int rows, int tokens, int accumulate);

#endif
